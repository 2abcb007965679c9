"""A decoded record -> one row for a table's layout, or the reason it can never be one.

One RowReader per table layout, compiled once: the per-field hot path indexes tuples built here
and calls one converter chosen per column, with no type dispatch.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation
from typing import Any

from ingest import exact_json
from ingest.exact_json import DuplicateKeyError, JsonNumber, super_problem
from ingest.layout import TableLayout
from ingest.limits import SUPER_MAX_DEPTH, SUPER_MAX_STRING_BYTES
from ingest.records import Decoded, Reason, Rejection, Row, SqlValue
from ingest.schema import Column, ColumnKind

_APPSFLYER_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
)
_APPSFLYER_WITH_OFFSET = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)"
    r"[+-][0-9]{2}:?[0-9]{2}"
)
# What a decimal sent as a JSON *string* may look like: ASCII digits, one optional sign, one
# optional point. Python's Decimal() also takes "1_000", "١٢", " 5 ", "1e3" and "NaN": a sender's
# typo must not become a number nobody sent.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ZERO = re.compile(r"[+-]?(?:0+(?:\.0*)?|\.0+)(?:[eE][+-]?[0-9]+)?")
_TIMESTAMP_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?\Z",
    re.ASCII,
)
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")  # longer than any BIGINT: refused by length
# JSON's number grammar, and the same as text; never "NaN", "Infinity", "0x10" or "1_000".
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER_BOUNDS = {
    ColumnKind.SMALLINT: 2**15,
    ColumnKind.INTEGER: 2**31,
    ColumnKind.BIGINT: 2**63,
}
# The largest finite REAL and DOUBLE PRECISION: a sent number beyond them is refused here
# rather than by the database. Below them the column's own rounding applies, as it would to
# the same digits sent by any client: the digits travel as text, never as a Python float.
_FLOAT_LIMITS = {
    ColumnKind.REAL: (Decimal("1.401298464324817e-45"), Decimal("3.4028234663852886e38")),
    ColumnKind.DOUBLE: (Decimal("4.9406564584124654e-324"), Decimal("1.7976931348623157e308")),
}
# The smallest magnitudes above are the types' least subnormals: a non-zero number below them
# would become 0 (PostgreSQL refuses it as out of range; so does this check).
# Redshift's DECIMAL holds up to 38 digits; Python's default context rounds at 28, so decimal
# arithmetic here runs in a context wide enough for any column with room to spare.
_DECIMAL_CONTEXT = Context(prec=80)


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RowReader:
    """Turns decoded records into rows of one table layout."""

    def __init__(self, layout: TableLayout) -> None:
        self.layout = layout
        columns = layout.columns
        self._converters = tuple(map(_converter, columns, layout.local_time))
        # Byte limit of each VARCHAR/CHAR column for the ASCII fast path; -1 sends other
        # kinds the slow way.
        self._ascii_limits = tuple(
            c.size if c.kind in (ColumnKind.VARCHAR, ColumnKind.CHAR) else -1 for c in columns
        )
        self._no_fast_path = (-1,) * len(columns)
        self._width = len(columns)
        # For a field that matched only after folding case: every key its column answers to.
        keys_of: dict[int, list[str]] = {}
        for key, index in layout.field_index.items():
            keys_of.setdefault(index, []).append(key)
        self._keys_of = {index: tuple(keys) for index, keys in keys_of.items()}
        self._column_of = layout.field_index.get
        # Lower-case keys that still need folding: those of mapped paths spelt in mixed case.
        self._fold_only = frozenset(set(layout.folded_index) - set(layout.field_index))
        self._mapped = layout.mapped
        self._required = layout.required
        self._message_id_index = layout.message_id_index
        self._message_id_column = columns[layout.message_id_index]
        self._overflow_index = layout.overflow_index

    def read(self, decoded: Decoded) -> Row | Rejection:
        message = decoded.message
        try:
            values, present, dropped = self._values(decoded)
        except _Invalid as bad:
            return Rejection(message.message_id, bad.reason, bad.detail)
        except RecursionError:
            # A value nested nearly as deep as the decoder allows, written as text: a record
            # that can never be stored, never an error that fails the batch.
            return Rejection(
                message.message_id, Reason.INVALID_JSON, "a value is nested too deeply"
            )
        targets = frozenset(message.failed_targets) if message.failed_targets is not None else None
        return Row(
            message.message_id,
            message.receive_count,
            values,
            present,
            record_id=message.record_id,
            targets=targets,
            redriven=message.original_message_id is not None,
            dropped_fields=dropped,
        )

    def _values(self, decoded: Decoded) -> tuple[tuple[SqlValue, ...], tuple[int, ...], int]:
        payload = decoded.payload
        # Walk the payload's keys rather than every column: most AppsFlyer fields are absent.
        values: list[SqlValue] = [None] * self._width
        present: list[int] = []
        extra: dict[str, Any] = {}
        limits = self._ascii_limits if decoded.plain_ascii else self._no_fast_path
        column_of, keep, converters = self._column_of, present.append, self._converters
        fold_only = self._fold_only
        folded: set[int] = set()
        for key, raw in payload.items():
            index = column_of(key)
            if index is None:
                # Only a key with capitals (or a mapped path's lower-case spelling) can fold.
                if key.islower() and key not in fold_only:
                    extra[key] = raw
                    continue
                index = self._folded(key, payload, folded)
                if index is None:
                    extra[key] = raw
                    continue
            if raw is not None:
                keep(index)
                # Inline fast path for the commonest field, short ASCII text: no calls at all.
                if type(raw) is str and len(raw) <= limits[index]:
                    values[index] = raw
                else:
                    values[index] = converters[index](raw)
        for path, index, own in self._mapped:
            raw = _follow(payload, path)
            if raw is None:
                continue  # the column's own field, if sent, stays its value
            if own is not None and own != path[0] and payload.get(own) is not None:
                extra[own] = payload[own]  # both sent: the path wins, nothing is lost
            keep(index)
            values[index] = converters[index](raw)
        self._check_required(values)
        message_id_index = self._message_id_index
        values[message_id_index] = _varchar(self._message_id_column, decoded.message.record_id)
        present.append(message_id_index)
        overflow = self._overflow_index
        if not extra or overflow is None:
            # Fields without a column in a table without an overflow column: counted in a
            # metric, since the table has nowhere to keep them.
            return tuple(values), tuple(present), len(extra)
        short = decoded.plain_ascii and len(decoded.message.body) <= _ONE_STRING
        values[overflow] = _extra(self.layout.columns[overflow], extra, short)
        present.append(overflow)
        return tuple(values), tuple(present), 0

    def _check_required(self, values: list[SqlValue]) -> None:
        for index in self._required:
            required = values[index]
            # A value of only spaces is as absent as an empty one ("   " is no event name).
            if required is None or (type(required) is str and not required.strip()):
                name = self.layout.columns[index].name
                raise _Invalid(Reason.MISSING_REQUIRED_FIELD, f"{name} is missing or empty")

    def _folded(self, key: str, payload: dict[str, Any], folded: set[int]) -> int | None:
        """The column of a field sent in another case, or None. Ambiguous (refused) when the
        column's own key, or another spelling of it, is in the record too ("ip" and "IP")."""
        index = self.layout.folded_index.get(key.lower())
        if index is None:
            return None
        if index in folded or any(own in payload for own in self._keys_of[index]):
            name = self.layout.columns[index].name
            raise _Invalid(
                Reason.AMBIGUOUS_FIELD, f"two fields differing only in case map to column {name}"
            )
        folded.add(index)
        return index


def _follow(payload: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = payload
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _converter(column: Column, local_time: bool) -> Callable[[Any], SqlValue]:
    """One function per column, chosen once: the per-field hot path does no type dispatch."""
    kind = column.kind
    if kind is ColumnKind.TIMESTAMP:
        return functools.partial(_timestamp, column, local_time)
    if kind is ColumnKind.DECIMAL:
        return functools.partial(_decimal, column, _plain_decimal(column))
    if kind in _INTEGER_BOUNDS:
        return functools.partial(_integer, column, _INTEGER_BOUNDS[kind])
    if kind in _FLOAT_LIMITS:
        return functools.partial(_float, column, _FLOAT_LIMITS[kind])
    convert: Callable[[Column, Any], SqlValue] = {
        ColumnKind.VARCHAR: _text,
        ColumnKind.CHAR: _char,
        ColumnKind.SUPER: _super_from_payload,
        ColumnKind.BOOLEAN: _boolean,
        ColumnKind.DATE: _date,
        ColumnKind.TIMESTAMPTZ: _timestamptz,
    }[kind]
    return functools.partial(convert, column)  # a C-level call: cheaper than a lambda


def _plain_decimal(column: Column) -> re.Pattern[str]:
    """Decimal text that fits DECIMAL(p,s) by its shape alone; anything else takes the full
    check. ASCII digits only."""
    integer_digits = column.precision - column.scale
    whole = f"-?[0-9]{{1,{integer_digits}}}" if integer_digits > 0 else "-?0"
    if column.scale == 0:
        return re.compile(whole)
    return re.compile(whole + f"(\\.[0-9]{{1,{column.scale}}})?")


def _number_text(column: Column, raw: Any, noun: str) -> str | None:
    """A JSON number's literal, or a string holding one; never a Python float."""
    if type(raw) is JsonNumber:
        return str.__str__(raw)
    if type(raw) is str:
        return raw
    raise _Invalid(Reason.INVALID_NUMBER, f"{column.name} must be {noun}")


def _integer(column: Column, bound: int, raw: Any) -> str | None:
    if raw == "":
        return None
    text = _number_text(column, raw, "an integer")
    if text is None or not _INTEGER_TEXT.fullmatch(text):
        raise _Invalid(Reason.INVALID_NUMBER, f"{column.name} is not an integer (ASCII digits)")
    number = int(text, 10)
    if not -bound <= number < bound:
        raise _Invalid(
            Reason.INVALID_NUMBER, f"{column.name} is out of range for {column.redshift_type}"
        )
    return str(number)  # the same integer: only a sign or leading zeros can differ


def _float(column: Column, limits: tuple[Decimal, Decimal], raw: Any) -> str | None:
    if raw == "":
        return None
    text = _number_text(column, raw, "a number")
    if text is None or not _NUMBER_TEXT.fullmatch(text):
        raise _Invalid(Reason.INVALID_NUMBER, f"{column.name} is not a number")
    if _ZERO.fullmatch(text):
        return text  # 0e999999999999999999999 is zero, whatever Decimal() makes of it
    try:
        magnitude = Decimal(text).copy_abs()  # no context: no overflow for any exponent
    except InvalidOperation:
        raise _Invalid(Reason.INVALID_NUMBER, f"{column.name} is out of range") from None
    smallest, largest = limits
    if not smallest <= magnitude <= largest:
        raise _Invalid(
            Reason.INVALID_NUMBER, f"{column.name} is out of range for {column.redshift_type}"
        )
    return text  # the digits as sent: the database rounds them as the column type does


def _date(column: Column, raw: Any) -> str | None:
    if raw == "":
        return None
    if type(raw) is str and _DATE_TEXT.fullmatch(raw):
        try:
            date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            return raw
    # A timestamp in a DATE column would lose its time of day: refused, not truncated.
    raise _Invalid(Reason.INVALID_DATE, f"{column.name} is not a date YYYY-MM-DD")


def _timestamptz(column: Column, raw: Any) -> str | None:
    if raw == "":
        return None
    parsed = _parse_timestamp(raw.strip()) if type(raw) is str else None
    if parsed is None:
        raise _Invalid(
            Reason.INVALID_TIMESTAMP,
            f"{column.name} is not YYYY-MM-DD HH:MM:SS[.fff][+HH:MM] or ISO-8601",
        )
    if parsed.tzinfo is None:
        # No offset: UTC, as AppsFlyer's own times are, whatever the session's time zone.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat(sep=" ")  # the instant, with the offset it was sent in


def _char(column: Column, raw: Any) -> str:
    text = _text(column, raw)
    if not text.isascii():
        raise _Invalid(
            Reason.NOT_SINGLE_BYTE,
            f"{column.name} is {column.redshift_type}, which holds single-byte characters only",
        )
    return text


_ONE_STRING = SUPER_MAX_STRING_BYTES
_PLAIN_JSON = frozenset({str, bool, type(None)})  # what the C encoder writes exactly as sent


def _extra(column: Column, fields: dict[str, Any], plain_short_body: bool) -> str | None:
    """The overflow SUPER value. When every field is a string, boolean or null of a short ASCII
    body, nothing in it can break a SUPER rule and no number needs its literal kept, so the C
    encoder writes it; otherwise the exact, checked path does."""
    if plain_short_body and all(type(value) in _PLAIN_JSON for value in fields.values()):
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return _super(column, fields)


def _text(column: Column, raw: Any) -> str:
    return _varchar(column, raw if type(raw) is str else _as_text(raw))


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw  # a JsonNumber is its literal: "19.90" stays "19.90"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    # Nested JSON keeps its spelling too: numbers inside are written as they were read.
    return exact_json.dumps(raw)


def _varchar(column: Column, text: str) -> str:
    if "\x00" in text:
        raise _Invalid(Reason.NUL_CHARACTER, f"{column.name} contains a NUL character")
    # The common case is ASCII: one byte per character, no encoding needed.
    size = len(text) if text.isascii() else _utf8_length(column, text)
    if size > column.size:
        raise _Invalid(
            Reason.VALUE_TOO_LONG,
            f"{column.name} is {size} bytes in UTF-8; {column.redshift_type} holds {column.size}",
        )
    return text


def _utf8_length(column: Column, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Invalid(Reason.INVALID_UNICODE, f"{column.name} is not valid UTF-8") from None


def _super_from_payload(column: Column, raw: Any) -> str | None:
    # AppsFlyer sends event_value as a JSON-encoded string. When that text is JSON Redshift
    # accepts, JSON_PARSE takes it exactly as sent (every number literal verbatim, ASCII or not);
    # text that is not JSON is stored as a JSON string.
    if type(raw) is str:
        if raw == "":
            return None
        # Pure-ASCII text without escapes holds no NUL and no lone surrogate; when it is also
        # short (nesting n levels takes 2n characters) the decode alone is the whole check.
        plain = raw.isascii() and "\\u" not in raw and len(raw) <= 2 * SUPER_MAX_DEPTH
        try:
            decoded = exact_json.loads(raw)
        except DuplicateKeyError:
            raise _Invalid(
                Reason.INVALID_SUPER, f"{column.name} has an object with a duplicate key"
            ) from None
        except RecursionError:
            raise _Invalid(Reason.INVALID_SUPER, f"{column.name} is nested too deeply") from None
        except ValueError:
            return _super(column, raw)
        if not plain:
            _check_super(column, decoded)
        return raw
    return _super(column, raw)


def _super(column: Column, value: Any) -> str | None:
    """A decoded value as the exact JSON text JSON_PARSE will read."""
    if value is None:
        return None
    _check_super(column, value)
    try:
        return exact_json.dumps(value)
    except RecursionError:
        raise _Invalid(Reason.INVALID_SUPER, f"{column.name} is nested too deeply") from None


def _check_super(column: Column, value: Any) -> None:
    problem = super_problem(value)
    if problem is None:
        return
    if "NUL" in problem:
        raise _Invalid(Reason.NUL_CHARACTER, f"{column.name} contains a NUL character")
    if "UTF-8" in problem:
        raise _Invalid(Reason.INVALID_UNICODE, f"{column.name} is not valid UTF-8")
    raise _Invalid(Reason.INVALID_SUPER, f"{column.name} {problem}")


def _timestamp(column: Column, local_time: bool, raw: Any) -> str | None:
    if raw == "":
        return None  # AppsFlyer sends "" for absent typed values: it can only mean NULL
    if type(raw) is not str:  # a JsonNumber is no timestamp: epoch units would be a guess
        raise _Invalid(Reason.INVALID_TIMESTAMP, f"{column.name} must be a timestamp string")
    text: str = raw
    if local_time and (local := _APPSFLYER_WITH_OFFSET.fullmatch(raw)):
        # A local time with its offset: the wall clock before the offset is the value.
        text = local.group(1)
    if _APPSFLYER_TIMESTAMP.fullmatch(text):
        # AppsFlyer's own zone-less format is already what Redshift reads: only check the
        # calendar (no 30 February) and pass the text through unchanged.
        try:
            datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return text
    parsed = _parse_timestamp(text.strip())
    if parsed is None:
        raise _Invalid(
            Reason.INVALID_TIMESTAMP,
            f"{column.name} is not YYYY-MM-DD HH:MM:SS[.fff] or ISO-8601",
        )
    if parsed.tzinfo is not None and local_time:
        parsed = parsed.replace(tzinfo=None)  # a local time: its wall clock is the value
    elif parsed.tzinfo is not None:
        # TIMESTAMP has no zone: store the instant in UTC, as AppsFlyer's own fields are.
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise _Invalid(
                Reason.INVALID_TIMESTAMP, f"{column.name} is out of range once in UTC"
            ) from None
    return parsed.isoformat(sep=" ")


def _parse_timestamp(text: str) -> datetime | None:
    # fromisoformat (C, fast) reads both AppsFlyer's "YYYY-MM-DD HH:MM:SS.fff" and ISO-8601;
    # the shape check first keeps out the compact and week-date forms it also accepts.
    if not _TIMESTAMP_SHAPE.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _boolean(column: Column, raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if raw == "":
        return None
    if type(raw) is str and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _Invalid(Reason.INVALID_BOOLEAN, f"{column.name} must be true or false")


def _decimal(column: Column, plain: re.Pattern[str], raw: Any) -> str | None:
    if type(raw) is str and plain.fullmatch(raw):
        return raw  # e.g. "4.99": within DECIMAL(18,6) by its shape, and Redshift reads it as is
    if raw == "":
        return None
    if type(raw) is JsonNumber:
        text = str.__str__(raw)  # JSON's grammar: digits, sign, point, exponent; never a float
    elif type(raw) is str and _DECIMAL_TEXT.fullmatch(raw):
        text = raw
    elif type(raw) is str:
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} is not a decimal (ASCII digits, one optional sign and point)",
        )
    else:
        raise _Invalid(Reason.INVALID_DECIMAL, f"{column.name} must be a number")
    if _ZERO.fullmatch(text):
        return "0"  # 0e999999999999999999999 is zero; Decimal() refuses its exponent
    try:
        number = Decimal(text)
    except InvalidOperation:
        # Only an exponent beyond what Decimal holds gets here: far outside any DECIMAL(p,s).
        raise _Invalid(Reason.INVALID_DECIMAL, f"{column.name} is out of range") from None
    integer_digits = column.precision - column.scale
    # adjusted() is the exponent of the leading digit: no 10**n built for huge exponents.
    if number and number.adjusted() >= integer_digits:
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} exceeds {column.redshift_type} ({integer_digits} integer digits)",
        )
    quantum = Decimal(1).scaleb(-column.scale)
    if number != number.quantize(quantum, rounding=ROUND_DOWN, context=_DECIMAL_CONTEXT):
        # Redshift would round silently; we refuse to lose a sender's digits without a trace.
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} has more than {column.scale} decimal places for {column.redshift_type}",
        )
    # Plain notation with no more places than the column keeps: "1e3" -> "1000".
    exact = number.quantize(quantum, context=_DECIMAL_CONTEXT).normalize(_DECIMAL_CONTEXT)
    return format(exact, "f")
