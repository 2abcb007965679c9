"""SQS event -> messages, and each message's body -> its decoded JSON object (or why not)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from ingest import exact_json
from ingest.exact_json import DuplicateKeyError, JsonNumber

# A validated value, ready for rendering: None is SQL NULL; bool renders as TRUE/FALSE;
# str is the text of a VARCHAR, a canonical number, date or timestamp, or a SUPER value's JSON.
SqlValue = str | bool | None


class Reason(StrEnum):
    """Why a record can never be written; also the `Reason` metric dimension."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_REQUIRED_FIELD = "missing_required_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_BOOLEAN = "invalid_boolean"
    INVALID_DECIMAL = "invalid_decimal"
    INVALID_NUMBER = "invalid_number"  # SMALLINT/INTEGER/BIGINT/REAL/DOUBLE PRECISION
    INVALID_DATE = "invalid_date"
    NOT_SINGLE_BYTE = "not_single_byte"  # CHAR holds single-byte (ASCII) characters only
    AMBIGUOUS_FIELD = "ambiguous_field"  # two fields (differing only in case) for one column
    VALUE_TOO_LONG = "value_too_long"
    NUL_CHARACTER = "nul_character"
    INVALID_UNICODE = "invalid_unicode"
    INVALID_SUPER = "invalid_super"  # a SUPER value Redshift refuses (duplicate key, size, depth)
    INVALID_REDRIVE = "invalid_redrive"  # failed_targets names a target this function lacks
    RECORD_TOO_LARGE = "record_too_large"
    REJECTED_BY_DATABASE = "rejected_by_database"
    # Still failing on the source queue's last receive (SOURCE_MAX_RECEIVE_COUNT): a target's
    # outage or a failure no rule knows. Redriving it writes only the targets that lack it.
    RECEIVES_EXHAUSTED = "receives_exhausted"


class Row(NamedTuple):
    """A record that passed validation: one value per column of a table's layout (layout.py).

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
    dropped_fields: int = 0  # fields with no column, in a table without an overflow column

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


# SQS message ids are UUIDs; dead letters carry the original one and redrives bring it back.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TARGET_LIST = re.compile(r"[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*")


def read_records(event: Any) -> list[Mapping[str, Any]]:
    """The event's records, or InvalidEvent saying why this is not an SQS batch."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"the event is a JSON {json_type(event)}, not an SQS batch object")
    records = event.get("Records")
    if not isinstance(records, list):
        raise InvalidEvent(
            f"the event's Records is a JSON {json_type(records)}; an SQS batch has a list"
        )
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidEvent(f"Records[{position}] is a JSON {json_type(record)}, not an object")
    return records


def read_message(record: Mapping[str, Any], position: int = 0) -> SqsMessage:
    """The parts of an SQS event record we use; InvalidEvent when SQS could not have sent it."""
    where = f"Records[{position}]"
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidEvent(f"{where}.messageId is missing or is not an SQS message id")
    body = record.get("body")
    if not isinstance(body, str):
        raise InvalidEvent(f"{where}.body is a JSON {json_type(body)}; SQS bodies are strings")
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


class Decoded(NamedTuple):
    """A message whose body is a JSON object, decoded once for every target's table."""

    message: SqsMessage
    payload: dict[str, Any]
    # JSON can only spell NUL or a non-ASCII character in a string as an escape (or as raw
    # UTF-8): a pure-ASCII body without `\u` escapes holds only ASCII strings without NUL, so
    # one scan of the body replaces a byte count and a NUL check per field.
    plain_ascii: bool


def decode(message: SqsMessage) -> Decoded | Rejection:
    """The body as a JSON object with every number literal kept, or why it is not one."""
    try:
        payload = exact_json.loads_record(message.body)
    except DuplicateKeyError:
        return Rejection(
            message.message_id,
            Reason.INVALID_JSON,
            "body has a nested object with a duplicate key",
        )
    except (ValueError, RecursionError):
        # ValueError also covers NaN/Infinity literals, which JSON_PARSE would refuse.
        return Rejection(message.message_id, Reason.INVALID_JSON, "body is not valid JSON")
    if not isinstance(payload, dict):
        return Rejection(
            message.message_id,
            Reason.NOT_AN_OBJECT,
            f"body is a JSON {json_type(payload)}, not an object",
        )
    plain_ascii = message.body.isascii() and "\\u" not in message.body
    return Decoded(message, payload, plain_ascii)


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value, for messages that must not quote it."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else "boolean"
    if type(value) is JsonNumber or isinstance(value, int | float):
        return "number"
    kinds = ((str, "string"), (list, "array"), (Mapping, "object"))
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)
