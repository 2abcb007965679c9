"""SQS record -> validated row, or the reason it is permanently bad."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ingest.schema import (
    EXTRA_COLUMN,
    INSERT_COLUMNS,
    MESSAGE_ID_COLUMN,
    PAYLOAD_COLUMN_NAMES,
    Column,
    ColumnKind,
)

# A validated value, ready for rendering: None is SQL NULL; bool renders as TRUE/FALSE;
# str is the text of a VARCHAR, a canonical timestamp or decimal, or a SUPER value's JSON.
SqlValue = str | bool | None

_APPSFLYER_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
)
_APPSFLYER_WITH_OFFSET = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)"
    r"[+-][0-9]{2}:?[0-9]{2}"
)
# Decimal text that fits DECIMAL(18,6) by its shape alone; anything else takes the full check.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")  # ASCII digits only
_TIMESTAMP_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?\Z",
    re.ASCII,
)


class Reason(StrEnum):
    """Why a record can never be written; also the `Reason` metric dimension."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_BOOLEAN = "invalid_boolean"
    INVALID_DECIMAL = "invalid_decimal"
    VALUE_TOO_LONG = "value_too_long"
    NUL_CHARACTER = "nul_character"
    INVALID_UNICODE = "invalid_unicode"
    RECORD_TOO_LARGE = "record_too_large"
    REJECTED_BY_DATABASE = "rejected_by_database"


@dataclass(frozen=True)
class Row:
    """A record that passed validation: one value per column in schema.INSERT_COLUMNS."""

    message_id: str
    receive_count: int
    values: tuple[SqlValue, ...]
    present: tuple[int, ...] = ()  # indexes of the values that may be non-NULL (a render hint)


@dataclass(frozen=True)
class Rejection:
    """A permanently bad record. `detail` names columns and limits, never values (PII)."""

    message_id: str
    reason: Reason
    detail: str


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    body: str
    receive_count: int


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def read_message(record: Mapping[str, Any]) -> SqsMessage:
    """The parts of an SQS event record we use; a malformed envelope is a bug upstream."""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("SQS record without a messageId")
    attributes = record.get("attributes") or {}
    try:
        receive_count = int(attributes.get("ApproximateReceiveCount", "1"))
    except (TypeError, ValueError):
        receive_count = 1
    body = record.get("body")
    return SqsMessage(message_id, body if isinstance(body, str) else "", receive_count)


def validate(message: SqsMessage) -> Row | Rejection:
    """Turn one SQS message into a row for every column, or say why it can never be one."""
    try:
        values, present = _row_values(message)
        return Row(message.message_id, message.receive_count, values, present)
    except _Invalid as bad:
        return Rejection(message.message_id, bad.reason, bad.detail)


def _row_values(message: SqsMessage) -> tuple[tuple[SqlValue, ...], tuple[int, ...]]:
    try:
        payload = _strict_json(message.body)
    except (ValueError, RecursionError):
        # ValueError also covers integers too long to convert and NaN/Infinity literals.
        raise _Invalid(Reason.INVALID_JSON, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _Invalid(Reason.NOT_AN_OBJECT, f"body is a JSON {_json_type(payload)}, not an object")
    # Walk the payload's keys rather than every column: most AppsFlyer fields are absent.
    values: list[SqlValue] = [None] * len(INSERT_COLUMNS)
    present: list[int] = []
    extra: dict[str, Any] = {}
    # JSON can only spell NUL or a non-ASCII character in a string as an escape (or as raw
    # UTF-8): a pure-ASCII body without `\u` escapes holds only ASCII strings without NUL, so
    # one scan of the body replaces a byte count and a NUL check per field.
    plain_ascii = message.body.isascii() and "\\u" not in message.body
    limits = _ASCII_LIMITS if plain_ascii else _NO_FAST_PATH
    column_of, keep, converters = _PAYLOAD_INDEX.get, present.append, _CONVERTERS  # locals
    for key, raw in payload.items():
        index = column_of(key)
        if index is None:
            extra[key] = raw
        elif raw is not None:
            keep(index)
            # Inline fast path for the commonest field, short ASCII text: no calls at all.
            if type(raw) is str and len(raw) <= limits[index]:
                values[index] = raw
            else:
                values[index] = converters[index](raw)
    for index in _REQUIRED_INDEXES:
        if values[index] is None or values[index] == "":
            name = INSERT_COLUMNS[index].name
            raise _Invalid(Reason.MISSING_REQUIRED_FIELD, f"{name} is missing or empty")
    values[_MESSAGE_ID_INDEX] = _varchar(MESSAGE_ID_COLUMN, message.message_id)
    present.append(_MESSAGE_ID_INDEX)
    if extra:
        values[_EXTRA_INDEX] = _super(EXTRA_COLUMN, extra)
        present.append(_EXTRA_INDEX)
    return tuple(values), tuple(present)


_PAYLOAD_INDEX = {c.name: i for i, c in enumerate(INSERT_COLUMNS) if c.name in PAYLOAD_COLUMN_NAMES}
_REQUIRED_INDEXES = tuple(
    i for i, c in enumerate(INSERT_COLUMNS) if c.required and c.name in PAYLOAD_COLUMN_NAMES
)
_MESSAGE_ID_INDEX = INSERT_COLUMNS.index(MESSAGE_ID_COLUMN)
_CONVERTERS: tuple[Callable[[Any], SqlValue], ...] = ()  # filled below, once the helpers exist
_EXTRA_INDEX = INSERT_COLUMNS.index(EXTRA_COLUMN)
# Byte limit of each VARCHAR column for the ASCII fast path; -1 sends other kinds the slow way.
_ASCII_LIMITS = tuple(c.size if c.kind is ColumnKind.VARCHAR else -1 for c in INSERT_COLUMNS)
_NO_FAST_PATH = (-1,) * len(INSERT_COLUMNS)


def _converter(column: Column) -> Callable[[Any], SqlValue]:
    """One function per column, chosen once: the per-field hot path does no type dispatch."""
    convert: Callable[[Column, Any], SqlValue] = {
        ColumnKind.VARCHAR: _text,
        ColumnKind.SUPER: _super_from_payload,
        ColumnKind.TIMESTAMP: _timestamp,
        ColumnKind.BOOLEAN: _boolean,
        ColumnKind.DECIMAL: _decimal,
    }[column.kind]
    return functools.partial(convert, column)  # a C-level call: cheaper than a lambda


def _text(column: Column, raw: Any) -> str:
    return _varchar(column, raw if type(raw) is str else _as_text(raw))


def _as_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    # Numbers and nested JSON keep their JSON spelling, so nothing is lost or reformatted.
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


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
    # AppsFlyer's event_value is usually JSON text already: when it is plain ASCII JSON without
    # escapes (so no NUL and no lone surrogates), JSON_PARSE can take it exactly as sent.
    if type(raw) is str and raw.isascii() and "\\u" not in raw:
        try:
            _strict_json(raw)
        except (ValueError, RecursionError):
            pass  # not JSON: stored as a JSON string below
        else:
            return raw
    return _super(column, _decode_embedded_json(raw))


def _decode_embedded_json(raw: Any) -> Any:
    # AppsFlyer sends event_value as a JSON-encoded string; store the structure it encodes.
    if isinstance(raw, str):
        if raw == "":
            return None
        try:
            return _strict_json(raw)
        except (ValueError, RecursionError):
            return raw  # plain text is still a valid SUPER value (a JSON string)
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every call: json.loads with keyword arguments would build one each time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _strict_json(text: str) -> Any:
    """json.loads without the NaN/Infinity extension, which JSON_PARSE would refuse."""
    return _DECODER.decode(text)


def _super(column: Column, value: Any) -> str | None:
    if value is None:
        return None
    try:
        if _contains_nul(value):
            raise _Invalid(Reason.NUL_CHARACTER, f"{column.name} contains a NUL character")
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise _Invalid(Reason.INVALID_JSON, f"{column.name} is nested too deeply") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(Reason.INVALID_UNICODE, f"{column.name} is not valid UTF-8") from None
    return text


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _timestamp(column: Column, raw: Any) -> str | None:
    if raw == "":
        return None  # AppsFlyer sends "" for absent typed values: it can only mean NULL
    if not isinstance(raw, str):
        raise _Invalid(Reason.INVALID_TIMESTAMP, f"{column.name} must be a timestamp string")
    text: str = raw
    if column.local_time and (local := _APPSFLYER_WITH_OFFSET.fullmatch(raw)):
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
            f"{column.name} is not 'YYYY-MM-DD HH:MM:SS[.fff]' or ISO-8601",
        )
    if parsed.tzinfo is not None and column.local_time:
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
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _Invalid(Reason.INVALID_BOOLEAN, f"{column.name} must be true or false")


def _decimal(column: Column, raw: Any) -> str | None:
    if type(raw) is str and _PLAIN_DECIMAL.fullmatch(raw):
        return raw  # e.g. "4.99": within DECIMAL(18,6) by its shape, and Redshift reads it as is
    if raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _Invalid(Reason.INVALID_DECIMAL, f"{column.name} must be a number")
    try:
        # repr() is the shortest text that round-trips a float: 0.1 stays 0.1.
        number = Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
    except InvalidOperation:
        raise _Invalid(Reason.INVALID_DECIMAL, f"{column.name} is not a number") from None
    if not number.is_finite():
        raise _Invalid(Reason.INVALID_DECIMAL, f"{column.name} must be finite")
    integer_digits = column.precision - column.scale
    if abs(number) >= Decimal(10) ** integer_digits:
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} exceeds {column.redshift_type} ({integer_digits} integer digits)",
        )
    quantum = Decimal(1).scaleb(-column.scale)
    rounded = number.quantize(quantum)
    if rounded != number:
        # Redshift would round silently; we refuse to lose a sender's digits without a trace.
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} has more than {column.scale} decimal places for {column.redshift_type}",
        )
    return format(rounded.normalize() if rounded else Decimal(0), "f")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


_CONVERTERS = tuple(_converter(column) for column in INSERT_COLUMNS)
