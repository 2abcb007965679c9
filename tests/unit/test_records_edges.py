"""Validation edges: the exact reason and detail each bad record carries into its dead letter
(column and limit named, never a value), the SQS envelope's edges, and SUPER limits checked
on the slow path as well as the fast one."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ingest.records import (
    InvalidEvent,
    Reason,
    Rejection,
    Row,
    SqsMessage,
    read_message,
    read_records,
)
from tests.support import payload, sqs_record
from tests.unit.test_records import check, value_of


def rejection(outcome: Row | Rejection) -> tuple[Reason, str]:
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason, outcome.detail


def with_field(name: str, literal: str) -> str:
    """A payload body with one more field written as a raw JSON literal."""
    return json.dumps(payload())[:-1] + f', "{name}": {literal}}}'


# ---- the detail each rejection carries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", (Reason.INVALID_JSON, "body is not valid JSON")),
        (
            with_field("custom", '{"k": 1, "k": 2}'),
            (Reason.INVALID_JSON, "body has a nested object with a duplicate key"),
        ),
        ("42", (Reason.NOT_AN_OBJECT, "body is a JSON number, not an object")),
        ("19.90", (Reason.NOT_AN_OBJECT, "body is a JSON number, not an object")),
        ("true", (Reason.NOT_AN_OBJECT, "body is a JSON boolean, not an object")),
        ("null", (Reason.NOT_AN_OBJECT, "body is a JSON null, not an object")),
        ('"text"', (Reason.NOT_AN_OBJECT, "body is a JSON string, not an object")),
        ("[1]", (Reason.NOT_AN_OBJECT, "body is a JSON array, not an object")),
    ],
)
def test_body_rejections_say_what_the_body_is(body: str, expected: tuple[Reason, str]) -> None:
    outcome = check(body, message_id="abc-9")
    assert rejection(outcome) == expected
    assert isinstance(outcome, Rejection)
    assert outcome.message_id == "abc-9"  # the letter is for this message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"city": "Ber\x00lin"}, (Reason.NUL_CHARACTER, "city contains a NUL character")),
        (
            {"country_code": "éééééa"},
            (Reason.VALUE_TOO_LONG, "country_code is 11 bytes in UTF-8; VARCHAR(10) holds 10"),
        ),
        ({"wifi": "maybe"}, (Reason.INVALID_BOOLEAN, "wifi must be true or false")),
        (
            {"event_revenue": "abc"},
            (
                Reason.INVALID_DECIMAL,
                "event_revenue is not a decimal (ASCII digits, one optional sign and point)",
            ),
        ),
        ({"event_revenue": True}, (Reason.INVALID_DECIMAL, "event_revenue must be a number")),
        ({"event_revenue": [1]}, (Reason.INVALID_DECIMAL, "event_revenue must be a number")),
        (
            {"event_revenue": "1000000000000"},
            (Reason.INVALID_DECIMAL, "event_revenue exceeds DECIMAL(18,6) (12 integer digits)"),
        ),
        (
            {"event_revenue": "1.1234567"},
            (
                Reason.INVALID_DECIMAL,
                "event_revenue has more than 6 decimal places for DECIMAL(18,6)",
            ),
        ),
        (
            {"install_time": "yesterday"},
            (
                Reason.INVALID_TIMESTAMP,
                "install_time is not YYYY-MM-DD HH:MM:SS[.fff] or ISO-8601",
            ),
        ),
        (
            {"install_time": 1714566896},
            (Reason.INVALID_TIMESTAMP, "install_time must be a timestamp string"),
        ),
        (
            {"install_time": "0001-01-01T00:00:00+01:00"},
            (Reason.INVALID_TIMESTAMP, "install_time is out of range once in UTC"),
        ),
    ],
)
def test_field_rejections_name_the_column_and_the_rule(
    overrides: dict[str, Any], expected: tuple[Reason, str]
) -> None:
    assert rejection(check(payload(**overrides))) == expected


def test_lone_surrogate_in_a_text_column_is_invalid_unicode_naming_the_column() -> None:
    body = json.dumps(payload()).replace('"organic"', '"\\udc00"')
    assert rejection(check(body)) == (Reason.INVALID_UNICODE, "media_source is not valid UTF-8")


def test_decimal_whose_exponent_no_decimal_can_hold_is_out_of_range() -> None:
    body = with_field("af_cost_value", "1e99999999999999999999999")
    assert rejection(check(body)) == (Reason.INVALID_DECIMAL, "af_cost_value is out of range")


# ---- SUPER values: every rule also on the checked (slow) path ----------------------------------


@pytest.mark.parametrize(
    ("event_value", "expected"),
    [
        ('"\\ud800"', (Reason.INVALID_UNICODE, "event_value is not valid UTF-8")),
        ('{"k\\u0000": 1}', (Reason.NUL_CHARACTER, "event_value contains a NUL character")),
        ("not JSON \x00 at all", (Reason.NUL_CHARACTER, "event_value contains a NUL character")),
        (
            '{"' + "k" * 65_536 + '": 1}',
            (
                Reason.INVALID_SUPER,
                "event_value holds a 65536-byte string; SUPER strings hold at most 65535",
            ),
        ),
        (
            "[" * 10_000 + "]" * 10_000,
            (Reason.INVALID_SUPER, "event_value is nested too deeply"),
        ),
    ],
)
def test_super_text_rejections(event_value: str, expected: tuple[Reason, str]) -> None:
    assert rejection(check(payload(event_value=event_value))) == expected


def test_super_sent_as_an_object_is_checked_too() -> None:
    outcome = check(payload(event_value={"k": "a\x00b"}))
    assert rejection(outcome) == (Reason.NUL_CHARACTER, "event_value contains a NUL character")


def _nested(levels: int, kind: str) -> str:
    # A non-ASCII leaf keeps the value off the fast path: the depth rule itself is exercised.
    opening, closing = ("[", "]") if kind == "array" else ('{"k":', "}")
    return opening * levels + '"é"' + closing * levels


@pytest.mark.parametrize("kind", ["array", "object"])
def test_super_nesting_of_1000_levels_is_accepted_and_1001_refused(kind: str) -> None:
    deepest = _nested(1000, kind)
    assert value_of(check(payload(event_value=deepest)), "event_value") == deepest
    assert rejection(check(payload(event_value=_nested(1001, kind)))) == (
        Reason.INVALID_SUPER,
        "event_value nested more than 1000 levels deep",
    )


@pytest.fixture
def recursion_limit(request: pytest.FixtureRequest) -> Iterator[int]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(request.param)
    yield request.param
    sys.setrecursionlimit(max(before, sys.getrecursionlimit()))


def _from_a_stack_already(frames: int, body: str) -> Row | Rejection:
    # The function's caller (Lambda's runtime, Powertools' decorators) already uses some stack.
    if frames:
        return _from_a_stack_already(frames - 1, body)
    return check(body)


@pytest.mark.parametrize(
    ("recursion_limit", "frames"),
    [(1000, 0), (1000, 700), (2000, 1200)],
    indirect=["recursion_limit"],
)
def test_1000_levels_are_accepted_whatever_stack_and_recursion_limit_the_caller_has(
    recursion_limit: int, frames: int
) -> None:
    # Python 3.11 shares its recursion limit between the caller's stack and the JSON scanner.
    deepest = _nested(1000, "array")
    outcome = _from_a_stack_already(frames, json.dumps(payload(event_value=deepest)))
    assert value_of(outcome, "event_value") == deepest


# ---- values stored exactly ---------------------------------------------------------------------


def test_overflow_fields_of_a_plain_body_are_stored_as_compact_json() -> None:
    row = check(payload(af_new_field="x", af_flag=True, af_gone=None, af_off=False))
    assert (
        value_of(row, "extra")
        == '{"af_new_field":"x","af_flag":true,"af_gone":null,"af_off":false}'
    )


def test_json_literals_inside_a_super_object_keep_their_spelling() -> None:
    body = json.dumps(payload(event_value="X")).replace(
        '"X"', '{"a": null, "b": true, "c": false, "n": 1.50, "s": "\u00e9"}'
    )
    expected = '{"a":null,"b":true,"c":false,"n":1.50,"s":"\u00e9"}'
    assert value_of(check(body), "event_value") == expected


def test_a_json_false_sent_to_a_text_column_is_the_text_false() -> None:
    row = check(payload(af_sub1=False, af_sub2=True))
    assert (value_of(row, "af_sub1"), value_of(row, "af_sub2")) == ("false", "true")


def test_local_time_in_iso_form_with_an_offset_keeps_its_wall_clock() -> None:
    row = check(payload(event_time_selected_timezone="2024-05-01T14:34:56+02:00"))
    assert value_of(row, "event_time_selected_timezone") == "2024-05-01 14:34:56"


@pytest.fixture
def tokyo_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo_machine")
def test_offsets_are_stored_in_utc_whatever_the_machine_zone() -> None:
    row = check(payload(event_time="2024-05-01T14:34:56+02:00"))
    assert value_of(row, "event_time") == "2024-05-01 12:34:56"


# ---- the SQS envelope --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (True, "the event is a JSON boolean, not an SQS batch object"),
        (None, "the event is a JSON null, not an SQS batch object"),
        ([], "the event is a JSON array, not an SQS batch object"),
        ("Records", "the event is a JSON string, not an SQS batch object"),
        (7, "the event is a JSON number, not an SQS batch object"),
        ({"Records": [{}, "x"]}, "Records[1] is a JSON string, not an object"),
    ],
)
def test_events_sqs_never_sends_say_what_they_are(event: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        read_records(event)
    assert str(raised.value) == message


def envelope(position: int = 0, **fields: Any) -> SqsMessage:
    record: dict[str, Any] = {"messageId": "m-1", "body": "{}", **fields}
    return read_message({k: v for k, v in record.items() if v is not ...}, position)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"body": 5}, "Records[2].body is a JSON number; SQS bodies are strings"),
        ({"messageAttributes": []}, "Records[2].messageAttributes must be an object"),
    ],
)
def test_envelope_errors_name_the_record_and_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidEvent) as raised:
        envelope(2, **fields)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"failed_targets": "primary"}, "attribute failed_targets is not a comma-separated list"),
        (
            {"original_message_id": {"stringValue": "bad id"}},
            "attribute original_message_id is not an SQS message id",
        ),
        (
            {"original_message_id": {"binaryValue": "eA=="}},
            "attribute original_message_id is not an SQS message id",
        ),
    ],
)
def test_bad_redrive_attributes_are_the_records_own_problem(
    attributes: dict[str, Any], problem: str
) -> None:
    # Anyone who sends to the queue sets attributes: the record becomes a letter, the batch goes on
    message = envelope(2, messageAttributes=attributes)
    assert message.redrive_problem is not None
    assert message.redrive_problem.startswith(problem)
    assert (message.original_message_id, message.failed_targets) == (None, None)


@pytest.mark.parametrize(
    ("attributes", "count"),
    [
        (..., 1),
        ({}, 1),
        (None, 1),
        ({"ApproximateReceiveCount": "10"}, 10),
        ({"ApproximateReceiveCount": "0"}, 1),
    ],
)
def test_receive_count_defaults_to_a_first_delivery(attributes: Any, count: int) -> None:
    message = envelope(attributes=attributes, messageAttributes=...)
    assert message.receive_count == count
    assert message.failed_targets is None


@pytest.mark.parametrize(
    ("handle", "arn", "kept"),
    [
        ("h-1", "arn:aws:sqs:us-east-1:1:q", ("h-1", "arn:aws:sqs:us-east-1:1:q")),
        ("", None, (None, None)),
        (17, 17, (None, None)),
    ],
)
def test_a_record_without_a_usable_receipt_handle_or_source_has_none(
    handle: Any, arn: Any, kept: tuple[str | None, str | None]
) -> None:
    message = envelope(receiptHandle=handle, eventSourceARN=arn)
    assert (message.receipt_handle, message.source_arn) == kept


def test_a_redrive_names_its_targets_in_order() -> None:
    record = sqs_record(payload(), "m-1")
    record["messageAttributes"] = {"failed_targets": {"stringValue": "primary,secondary"}}
    assert read_message(record).failed_targets == ("primary", "secondary")
