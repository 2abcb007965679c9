"""Attacks on the handler's own logic with small doubles (no AWS): each docstring tells the failure
as found; the test holds the fix (see __init__.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.dead_letter import DeadLetter, entry_for, message_size
from ingest.deadline import Deadline, Deadlines
from ingest.failure_text import FailureKind, classify_failure
from ingest.limits import DEAD_LETTER_MAX_BYTES, SOURCE_MESSAGE_MAX_BYTES
from ingest.masking import mask
from ingest.records import Reason, SqsMessage
from ingest.redshift import DataApi, StatementStatus
from local.appsflyer import validate
from tests.support import payload
from tests.unit.fakes import FakeClock


class _CancelRefusedByStatus:
    """CancelStatement answers {"Status": false} (the documented "cancel did not succeed")
    the first time, and cancels the statement the second time."""

    def __init__(self) -> None:
        self.cancels = 0
        self.aborted = False

    def cancel_statement(self, **_: Any) -> dict[str, Any]:
        self.cancels += 1
        if self.cancels == 1:
            return {"Status": False}
        self.aborted = True
        return {"Status": True}

    def describe_statement(self, **_: Any) -> dict[str, Any]:
        return {"Status": "ABORTED" if self.aborted else "STARTED"}


def test_a_cancel_answered_status_false_is_retried_until_the_statement_ends() -> None:
    """CancelStatement's response carries `Status`: whether the cancel succeeded. DataApi.cancel
    ignores it and treats any answer as accepted, so a cancel answered `false` is never sent
    again: the statement runs on, the describes only watch it, and the function returns with it
    active ("unconfirmed"); if it then commits, it may be written twice after an early
    redelivery (issue 8 item 4: a refused cancel is retried within the deadline)."""
    clock = FakeClock()
    client = _CancelRefusedByStatus()
    api = DataApi(client, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    deadlines = Deadlines.single(Deadline.after(60.0, clock))
    # When the statement is cancelled
    outcome = api.cancel("stmt-1", deadlines)
    # Then the cancel was sent again and the statement confirmed ABORTED
    assert client.cancels == 2
    assert outcome.status is StatementStatus.ABORTED


@pytest.mark.parametrize("body_bytes", [SOURCE_MESSAGE_MAX_BYTES - 40, SOURCE_MESSAGE_MAX_BYTES])
def test_every_dead_letter_fits_the_sqs_message_limit(body_bytes: int) -> None:
    """A source message may be up to 256 KiB (body plus its attributes). Dead-lettering it adds
    `reason` and `original_message_id` (about 80 bytes) that entry_for never trims: for a body
    within ~100 bytes of the limit the dead letter is larger than SQS accepts, SendMessageBatch
    refuses it on every delivery, and the record loops until MaxReceiveCount, reaching the DLQ
    without its reason (issue 8 item 7: every dead letter fits the SQS limit)."""
    body = "x" * body_bytes  # not JSON: dead-lettered as invalid_json
    letter = DeadLetter(
        "3f1c3c2e-1b1a-4c55-9d47-1f6f4c3b2a10",
        "3f1c3c2e-1b1a-4c55-9d47-1f6f4c3b2a10",
        body,
        Reason.INVALID_JSON,
        "body is not valid JSON",
        ("primary", "secondary"),
    )
    entry = entry_for(letter)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= DEAD_LETTER_MAX_BYTES


@pytest.mark.parametrize(
    "error",
    [
        'ERROR: invalid input syntax for type integer: "debug-build"',
        'ERROR: invalid input syntax for type numeric: "assert-1"',
        'ERROR: value too long for type character varying(8) DETAIL: "could not open"',
    ],
)
def test_a_value_error_stays_a_value_error_whatever_the_value_says(error: str) -> None:
    """_INTERNAL_ERRORS is searched first and unanchored, over the whole text, quoted value
    included: "bug" needs no word start ("debug", "ladybug"), "assert" only one. A data error
    quoting such a value is classified TRANSIENT: no bisection, every row returned."""
    assert classify_failure(error) is FailureKind.DATA


@pytest.mark.parametrize(
    "error",
    [
        'ERROR: invalid value for parameter "TimeZone": "Mars/Olympus"',
        "ERROR: Invalid value for column encoding in table definition",
    ],
)
def test_errors_about_settings_are_not_value_errors(error: str) -> None:
    """_DATA_ERRORS' `invalid (timestamp|value)` also matches errors about the session's or the
    table's settings, which no row causes: they are bisected down to single rows and, in a batch
    of one or two records (below STATEMENT_LEVEL_AFTER), dead-lettered."""
    assert classify_failure(error) is not FailureKind.DATA


def test_mask_drops_values_quoted_with_typographic_quotes() -> None:
    """mask() cuts at the first ASCII quote or backtick. A message that quotes a value with
    other quotation marks (a localised lc_messages, a driver, a proxy: „…“, «…», \u201c…\u201d)
    keeps the value in logs and reason_detail."""
    masked = mask("ERROR: invalid input syntax for type integer: “203.0.113.7”")
    assert "203.0.113.7" not in masked


def test_a_zero_with_a_large_exponent_is_a_valid_decimal() -> None:
    """`0e999999999999999999999` is JSON for zero; Decimal() reads it, but the exponent is past
    the context's limits and InvalidOperation turns it into "is not a number". (Low severity:
    a sender's zero is dead-lettered as invalid_decimal.)"""
    body = json.dumps(payload())[:-1] + ', "event_revenue_usd": 0e999999999999999999999}'
    outcome = validate(SqsMessage("m-1", body, 1))
    assert not hasattr(outcome, "reason"), getattr(outcome, "detail", None)
