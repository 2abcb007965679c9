"""SQS record -> validated row, or the reason it is permanently bad."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, NamedTuple

from ingest import exact_json
from ingest.exact_json import (
    SUPER_MAX_DEPTH,
    SUPER_MAX_STRING_BYTES,
    DuplicateKeyError,
    JsonNumber,
    super_problem,
)
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
# What a decimal sent as a JSON *string* may look like: ASCII digits, one optional sign, one
# optional point. Python's Decimal() also takes "1_000", "١٢", " 5 ", "1e3" and "NaN": a sender's
# typo must not become a number nobody sent.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_ZERO = re.compile(r"[+-]?(?:0+(?:\.0*)?|\.0+)(?:[eE][+-]?[0-9]+)?")
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
    INVALID_SUPER = "invalid_super"  # a SUPER value Redshift refuses (duplicate key, size, depth)
    INVALID_REDRIVE = "invalid_redrive"  # failed_targets names a target this function lacks
    RECORD_TOO_LARGE = "record_too_large"
    REJECTED_BY_DATABASE = "rejected_by_database"


class Row(NamedTuple):
    """A record that passed validation: one value per column in schema.INSERT_COLUMNS.

    A NamedTuple rather than a frozen dataclass: one is built per record in the hot path, and a
    tuple is built in C (a frozen dataclass sets each field through object.__setattr__)."""

    message_id: str  # this delivery's SQS id: what SQS is answered with
    receive_count: int
    values: tuple[SqlValue, ...]
    present: tuple[int, ...] = ()  # indexes of the values that may be non-NULL (a render hint)
    # The record's identity in the table (the message-id column): the original SQS id of a
    # record redriven from the dead-letter queue, else this delivery's id.
    record_id: str = ""
    # Targets still owed the record (a redrive's `failed_targets`); None means every target.
    targets: frozenset[str] | None = None
    redriven: bool = False

    @property
    def may_be_written(self) -> bool:
        """Delivered before (or redriven): some target may already hold it."""
        return self.receive_count > 1 or self.redriven


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
    # From the attributes our dead letters carry, for a redrive (see dead_letter.py).
    original_message_id: str | None = None
    failed_targets: tuple[str, ...] | None = None
    # Where it came from, to delete it from there once its dead letter is sent.
    receipt_handle: str | None = None
    source_arn: str | None = None
    # Redrive attributes that cannot be honoured: anyone who sends to the queue sets message
    # attributes, so a bad one makes this record a letter, never the whole batch an error.
    redrive_problem: str | None = None

    @property
    def record_id(self) -> str:
        return self.original_message_id or self.message_id


class InvalidEvent(ValueError):
    """The event is not an SQS batch. The message says what is wrong, never what a value is."""


class _Invalid(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# SQS message ids are UUIDs; dead letters carry the original one and redrives bring it back.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TARGET_LIST = re.compile(r"[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*")


def read_records(event: Any) -> list[Mapping[str, Any]]:
    """The event's records, or InvalidEvent saying why this is not an SQS batch."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a JSON {_json_type(event)}, not an SQS batch object")
    records = event.get("Records")
    if not isinstance(records, list):
        raise InvalidEvent(
            f"the event's Records is a JSON {_json_type(records)}; an SQS batch has a list"
        )
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidEvent(f"Records[{position}] is a JSON {_json_type(record)}, not an object")
    return records


def read_message(record: Mapping[str, Any], position: int = 0) -> SqsMessage:
    """The parts of an SQS event record we use; InvalidEvent when SQS could not have sent it."""
    where = f"Records[{position}]"
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidEvent(f"{where}.messageId is missing or is not an SQS message id")
    body = record.get("body")
    if not isinstance(body, str):
        raise InvalidEvent(f"{where}.body is a JSON {_json_type(body)}; SQS bodies are strings")
    attributes = record.get("attributes")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, Mapping):
        raise InvalidEvent(f"{where}.attributes must be an object")
    try:
        receive_count = int(str(attributes.get("ApproximateReceiveCount", "1")), 10)
    except ValueError:
        raise InvalidEvent(f"{where}.attributes.ApproximateReceiveCount is not a number") from None
    custom = record.get("messageAttributes")
    if custom is None:
        custom = {}
    if not isinstance(custom, Mapping):
        raise InvalidEvent(f"{where}.messageAttributes must be an object")
    original, targets, problem = _redrive_attributes(custom)
    receipt_handle = record.get("receiptHandle")
    source_arn = record.get("eventSourceARN")
    return SqsMessage(
        message_id,
        body,
        max(1, receive_count),
        original,
        targets,
        receipt_handle if isinstance(receipt_handle, str) and receipt_handle else None,
        source_arn if isinstance(source_arn, str) else None,
        problem,
    )


def _redrive_attributes(
    attributes: Mapping[str, Any],
) -> tuple[str | None, tuple[str, ...] | None, str | None]:
    """(original_message_id, failed_targets, why they cannot be honoured): never a value."""
    original = _string_attribute(attributes, "original_message_id")
    targets = _string_attribute(attributes, "failed_targets")
    if original is not None and (
        not isinstance(original, str) or not _MESSAGE_ID.fullmatch(original)
    ):
        return None, None, "attribute original_message_id is not an SQS message id"
    if targets is not None and (
        not isinstance(targets, str) or not _TARGET_LIST.fullmatch(targets)
    ):
        return None, None, "attribute failed_targets is not a comma-separated list of targets"
    return original, tuple(targets.split(",")) if targets is not None else None, None


def _string_attribute(attributes: Mapping[str, Any], name: str) -> str | bool | None:
    """The attribute's string value; None when absent; False when it is not a String."""
    attribute = attributes.get(name)
    if attribute is None:
        return None
    value = attribute.get("stringValue") if isinstance(attribute, Mapping) else None
    return value if isinstance(value, str) else False


def validate(message: SqsMessage) -> Row | Rejection:
    """Turn one SQS message into a row for every column, or say why it can never be one."""
    try:
        values, present = _row_values(message)
    except _Invalid as bad:
        return Rejection(message.message_id, bad.reason, bad.detail)
    targets = frozenset(message.failed_targets) if message.failed_targets is not None else None
    return Row(
        message.message_id,
        message.receive_count,
        values,
        present,
        record_id=message.record_id,
        targets=targets,
        redriven=message.original_message_id is not None,
    )


def _row_values(message: SqsMessage) -> tuple[tuple[SqlValue, ...], tuple[int, ...]]:
    try:
        payload = exact_json.loads_record(message.body)
    except DuplicateKeyError:
        raise _Invalid(
            Reason.INVALID_JSON, "body has a nested object with a duplicate key"
        ) from None
    except (ValueError, RecursionError):
        # ValueError also covers NaN/Infinity literals, which JSON_PARSE would refuse.
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
        required = values[index]
        # A value of only spaces is as absent as an empty one ("   " is no event name).
        if required is None or (type(required) is str and not required.strip()):
            name = INSERT_COLUMNS[index].name
            raise _Invalid(Reason.MISSING_REQUIRED_FIELD, f"{name} is missing or empty")
    values[_MESSAGE_ID_INDEX] = _varchar(MESSAGE_ID_COLUMN, message.record_id)
    present.append(_MESSAGE_ID_INDEX)
    if extra:
        values[_EXTRA_INDEX] = _extra(extra, plain_ascii and len(message.body) <= _ONE_STRING)
        present.append(_EXTRA_INDEX)
    return tuple(values), tuple(present)


# A body no longer than this cannot hold a string over SUPER's limit.
_ONE_STRING = SUPER_MAX_STRING_BYTES
_PLAIN_JSON = frozenset({str, bool, type(None)})  # what the C encoder writes exactly as sent


def _extra(fields: dict[str, Any], plain_short_body: bool) -> str | None:
    """The overflow SUPER value. When every field is a string, boolean or null of a short ASCII
    body,
    nothing in it can break a SUPER rule and no number needs its literal kept, so the C encoder
    writes it; otherwise the exact, checked path does."""
    if plain_short_body and all(type(value) in _PLAIN_JSON for value in fields.values()):
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return _super(EXTRA_COLUMN, fields)


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


def _timestamp(column: Column, raw: Any) -> str | None:
    if raw == "":
        return None  # AppsFlyer sends "" for absent typed values: it can only mean NULL
    if type(raw) is not str:  # a JsonNumber is no timestamp: epoch units would be a guess
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
            f"{column.name} is not YYYY-MM-DD HH:MM:SS[.fff] or ISO-8601",
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
    if type(raw) is str and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _Invalid(Reason.INVALID_BOOLEAN, f"{column.name} must be true or false")


def _decimal(column: Column, raw: Any) -> str | None:
    if type(raw) is str and _PLAIN_DECIMAL.fullmatch(raw):
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
    if number != number.quantize(quantum, rounding=ROUND_DOWN):
        # Redshift would round silently; we refuse to lose a sender's digits without a trace.
        raise _Invalid(
            Reason.INVALID_DECIMAL,
            f"{column.name} has more than {column.scale} decimal places for {column.redshift_type}",
        )
    # Plain notation with no more places than the column keeps: "1e3" -> "1000".
    return format(number.quantize(quantum).normalize(), "f")


def _json_type(value: Any) -> str:
    """The JSON type name of a decoded value, for messages that must not quote it."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    if type(value) is JsonNumber or isinstance(value, int | float):
        return "number"
    kinds = ((str, "string"), (list, "array"), (Mapping, "object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


_CONVERTERS = tuple(_converter(column) for column in INSERT_COLUMNS)
