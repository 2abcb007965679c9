"""Dead letters: the body as received, the reason masked, and everything within SQS's limit."""

from __future__ import annotations

from ingest.dead_letter import DeadLetter, entry_for, message_size
from ingest.limits import DEAD_LETTER_MAX_BYTES, SOURCE_MESSAGE_MAX_BYTES
from ingest.records import Reason


def letter(body: str, detail: str) -> DeadLetter:
    return DeadLetter("m-1", "orig-1", body, Reason.REJECTED_BY_DATABASE, detail, ("primary",))


def test_entry_carries_the_body_unchanged_and_the_masked_reason() -> None:
    entry = entry_for(letter('{"ip": "1.2.3.4"}', 'invalid input syntax: "1.2.3.4"\nDETAIL: x'))
    assert entry["MessageBody"] == '{"ip": "1.2.3.4"}'
    attributes = entry["MessageAttributes"]
    assert attributes["reason_detail"]["StringValue"] == "invalid input syntax: …"
    assert attributes["original_message_id"]["StringValue"] == "orig-1"
    assert attributes["failed_targets"]["StringValue"] == "primary"


def test_reason_detail_is_bounded_and_free_of_control_characters() -> None:
    entry = entry_for(letter("{}", "a\x00b\x1bc " * 2_000))
    detail = entry["MessageAttributes"]["reason_detail"]["StringValue"]
    assert len(detail) <= 1024
    assert not any(ord(ch) < 32 for ch in detail)


def test_body_near_the_limit_still_fits_with_its_attributes() -> None:
    body = "x" * (SOURCE_MESSAGE_MAX_BYTES - 150)
    entry = entry_for(letter(body, "value too long for type character varying(10) " * 10))
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= DEAD_LETTER_MAX_BYTES
    assert entry["MessageBody"] == body
    assert entry["MessageAttributes"]["reason"]["StringValue"] == "rejected_by_database"
