"""Hostile-user and unlucky-network attacks on the handler, on the real stack (local Data API on
PostgreSQL, moto's SQS). Each docstring tells the failure as found; the test holds the fix (see
__init__.py)."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.stack import LocalDataApi
from tests.integration.conftest import Stack
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration

MAX_RECEIVES = 5  # the SQS loop is simulated this many times (the template's minimum is 5)


def _redeliver(event: dict[str, Any], returned: list[str], receive_count: int) -> dict[str, Any]:
    """The records SQS hands back after a visibility timeout: the ones returned, counted again."""
    records = [r for r in event["Records"] if r["messageId"] in returned]
    for record in records:
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return {"Records": records}


def _run_sqs_loop(stack: Stack, event: dict[str, Any]) -> list[str]:
    """Invoke, then redeliver what came back, up to MAX_RECEIVES receives; what is still
    returned at the end is what SQS would move to the DLQ *without* a reason."""
    returned = [r["messageId"] for r in event["Records"]]
    for receive in range(1, MAX_RECEIVES + 1):
        batch = _redeliver(event, returned, receive)
        if not batch["Records"]:
            return []
        try:
            returned = stack.invoke(batch)
        except Exception:  # BatchNotProcessed, InvalidEvent...: SQS retries the whole batch
            returned = [r["messageId"] for r in batch["Records"]]
    return returned


def _narrow_city_on_primary(data_api: LocalDataApi) -> None:
    """A value only the database rejects (as the suite's own rejection test builds it): the
    primary refuses "Rio de Janeiro" though its catalog allows it."""
    data_api.refuse_values(
        "primary-cluster", "Rio de Janeiro", "ERROR: value too long for type character varying(8)"
    )


# ---- 1. the presence check crashes on timestamps at the edge of the calendar ------------------


@pytest.mark.parametrize("event_time", ["9999-12-31 23:59:59", "0001-01-01 00:00:00"])
def test_redelivered_record_with_edge_event_time_does_not_crash_the_batch(
    stack: Stack, event_time: str
) -> None:
    """A record whose event_time is valid (Redshift's TIMESTAMP runs 4713 BC - 294276 AD) but
    within a day of Python's datetime.min/max passes validation and is written on its first
    delivery. When its batch is redelivered (a target failed, the function timed out), the
    presence check widens the sort-key window by one day: `min(stamps) - SORT_KEY_SLACK`
    raises OverflowError before max()/min() can clamp it, the exception leaves the handler, and
    SQS retries the *whole* batch - on every receive, until MaxReceiveCount moves every good
    record of it to the DLQ without a reason. Expected: the batch is processed."""
    event = sqs_event([payload(event_time=event_time), payload()], receive_count=2)
    # When the redelivered batch is handled
    assert stack.invoke(event) == []
    # Then each record is once in each target
    ids = [r["messageId"] for r in event["Records"]]
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)


# ---- 2. one producer-controlled attribute fails every batch it is in ------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {"original_message_id": {"stringValue": "not an id!", "dataType": "String"}},
        {"original_message_id": {"binaryValue": "AAEC", "dataType": "Binary"}},
        {"failed_targets": {"stringValue": "", "dataType": "String"}},
        {"failed_targets": {"stringValue": "primary, secondary", "dataType": "String"}},
    ],
    ids=["id-with-space", "binary-attribute", "empty-targets", "targets-with-space"],
)
def test_one_message_with_a_malformed_redrive_attribute_does_not_sink_its_batch(
    stack: Stack, attributes: dict[str, Any]
) -> None:
    """Message attributes are set by whoever sends to the queue, not by SQS. One message whose
    `original_message_id` or `failed_targets` attribute is malformed (a typo in a hand redrive
    as the runbook describes, a producer that uses the same attribute name, a Binary value)
    makes read_message raise InvalidEvent for the whole event: no record of the batch is
    written, every one is retried, and after MaxReceiveCount every good record goes to the
    DLQ with no reason. Expected: the good records land; the odd one is dead-lettered
    (invalid_redrive) or at worst returned on its own."""
    event = sqs_event([payload(), payload(), payload()])
    event["Records"][1]["messageAttributes"] = attributes
    good = [event["Records"][0]["messageId"], event["Records"][2]["messageId"]]
    # When the SQS loop runs
    _run_sqs_loop(stack, event)
    # Then the good records are in both targets
    assert {m: stack.counts("primary").get(m) for m in good} == dict.fromkeys(good, 1)
    assert {m: stack.counts("secondary").get(m) for m in good} == dict.fromkeys(good, 1)


# ---- 3. the statement-level rule returns good rows and never dead-letters the bad ones --------


def test_three_rejected_rows_at_the_front_of_a_batch_do_not_keep_good_rows_out(
    stack: Stack, data_api: LocalDataApi
) -> None:
    """A producer release sends a value the database rejects in every record (here a city
    longer than primary's column), mixed with good records from others. Bisection reaches the
    three bad rows first; with nothing written yet, STATEMENT_LEVEL_AFTER (3) declares a
    "statement-level failure": the pending statements (all the good rows) are returned, and
    the three suspects are returned instead of dead-lettered. The batch comes back in the
    same order and the same thing happens on every receive: the good rows never reach primary,
    the bad rows never get a reason, and after MaxReceiveCount SQS moves all of them to the
    DLQ. Expected (README): bad values are isolated and dead-lettered, the rest land."""
    _narrow_city_on_primary(data_api)
    bad = [payload(city="Rio de Janeiro") for _ in range(3)]
    event = sqs_event([*bad, *(payload() for _ in range(5))])
    ids = [r["messageId"] for r in event["Records"]]
    bad_ids, good_ids = ids[:3], ids[3:]
    # When SQS delivers the batch until MaxReceiveCount
    left = _run_sqs_loop(stack, event)
    # Then every good record reached primary once, and the bad ones carry a reason
    assert {m: stack.counts("primary").get(m) for m in good_ids} == dict.fromkeys(good_ids, 1)
    letters = stack.dead_letters()
    assert {m: letters.get(m, {}).get("reason") for m in bad_ids} == dict.fromkeys(
        bad_ids, "rejected_by_database"
    )
    assert left == []


# ---- 4. a quoted value decides how the failure is classified ---------------------------------


@pytest.mark.parametrize("app_version", ["release-7", "debug-7", "assertive", "XX000"])
def test_a_value_quoted_in_a_database_error_cannot_make_its_batch_unwritable(
    stack: Stack, data_api: LocalDataApi, app_version: str
) -> None:
    """The database rejects a value and quotes it (`invalid input syntax for type integer:
    "debug-7"`: here primary's app_version column is an INTEGER, a table/column mismatch the
    runbook names). classify_failure checks _INTERNAL_ERRORS first and unanchored, so a quoted
    value containing "bug" at a word end ("debug"), a word starting "assert", or "XX000" turns a
    data error into a TRANSIENT one: no bisection, the statement is resubmitted up to
    MAX_TRANSIENT_RETRIES times, then every row of the batch is returned - on every receive.
    A sender chooses which of its batches can ever be written to primary. Expected: as for
    "release-7", the bad row is dead-lettered and the others land."""
    # (The function now reads the table's types, so a true INTEGER column would refuse the value
    # before any statement: the primary's database refuses it instead, quoting it as
    # PostgreSQL and Redshift quote a value that is not an integer.)
    data_api.refuse_values(
        "primary-cluster",
        app_version,
        f'ERROR: invalid input syntax for type integer: "{app_version}"',
    )
    event = sqs_event([payload(), payload(app_version=app_version), payload(), payload()])
    ids = [r["messageId"] for r in event["Records"]]
    # When the handler runs once
    stack.invoke(event)
    # Then the good records are in primary and the bad one is dead-lettered for it
    good = [ids[0], *ids[2:]]
    assert {m: stack.counts("primary").get(m) for m in good} == dict.fromkeys(good, 1)
    letters = stack.dead_letters()
    assert letters.get(ids[1], {}).get("reason") == "rejected_by_database"


# ---- 5. a statement-level failure worded like a value error dead-letters good records --------


def test_a_statement_level_failure_worded_like_a_value_error_keeps_small_batches(
    stack: Stack, data_api: LocalDataApi
) -> None:
    """Every statement on primary fails for a reason no row causes (for instance the database
    user's default time zone was set wrong: 'invalid value for parameter "TimeZone"', which
    _DATA_ERRORS' `invalid (timestamp|value)` matches). With one or two records in the batch
    the STATEMENT_LEVEL_AFTER rule (3 suspects) can never trigger: both good records are
    dead-lettered as rejected_by_database for primary. Expected (issue 8 item 5): a failure
    that does not localise to a value never dead-letters records."""
    data_api.fail_next(
        "primary-cluster", 10, 'ERROR: invalid value for parameter "TimeZone": "Mars/Olympus"'
    )
    event = sqs_event([payload(), payload()])
    # When the handler runs
    stack.invoke(event)
    # Then nothing was dead-lettered: the records come back for primary
    assert stack.dead_letters() == {}


# ---- 6. one transient ListStatements error costs every redelivered record its turn ------------


def test_one_failed_list_statements_call_is_retried_before_giving_up(
    stack: Stack, data_api: LocalDataApi
) -> None:
    """Before writing redelivered records the function lists its own active statements
    (three ListStatements calls per target, one per active status). _list maps any error and
    raises at once: a single throttle (or InternalServerException) returns every redelivered
    record of the batch for that target, although the deadline
    leaves ample time to ask again. Under a redelivery storm this repeats on each receive
    until MaxReceiveCount. Expected: transient errors of the orphan listing are retried within
    the deadline like every other Data API call."""
    # ListStatements answers at most 3 calls a second (a burst of 3): the two targets' six
    # orphan listings of one invocation already exceed it
    data_api.set_throttle({"ListStatements": 3.0})
    event = sqs_event([payload(), payload()], receive_count=2)
    # When the redelivered batch is handled
    returned = stack.invoke(event)
    # Then it was written, not returned
    assert returned == []
    ids = [r["messageId"] for r in event["Records"]]
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)


# ---- 7. a forged original_message_id makes a new record vanish as "already held" -------------


def test_a_new_record_carrying_someone_elses_original_message_id_is_not_silently_dropped(
    stack: Stack,
) -> None:
    """`original_message_id` is trusted as the record's identity whatever sent it. A first
    delivery (ApproximateReceiveCount 1) of a *different* event that carries the attribute with
    an id the table already holds is counted RowsAlreadyPresent and acknowledged: its content
    is in no target and in no queue, and no log line says it was lost. Expected: a record
    whose body differs from the one held under that id is written or dead-lettered, never
    acknowledged unwritten."""
    first = sqs_event([payload(event_name="af_purchase")])
    assert stack.invoke(first) == []
    held_id = first["Records"][0]["messageId"]
    other = sqs_event([payload(event_name="af_refund")], prefix="new")
    other["Records"][0]["messageAttributes"] = {
        "original_message_id": {"stringValue": held_id, "dataType": "String"}
    }
    # When the new event is handled
    assert stack.invoke(other) == []
    # Then its content is somewhere: in the table or in the dead-letter queue
    with stack.data_api.connect("primary-cluster", "dev") as conn:
        names = [r[0] for r in conn.execute("SELECT event_name FROM public.appsflyer_events")]
    assert "af_refund" in names or stack.dead_letters() != {}


# ---- 8. a kill after the dead-letter send leaves two letters (the long chaos run's failures) --


def test_a_redelivery_after_a_kill_does_not_dead_letter_a_record_twice(stack: Stack) -> None:
    """`make chaos CHAOS_ARGS="--seeds 12"` failed seeds 102 and 104 with `dlq:<id>` duplicates:
    an invocation sends its dead letters and is killed (or times out) before SQS hears back;
    the redelivery validates the record again and sends a second letter. Fixed by deleting a
    dead-lettered record from its queue as soon as its letter is sent: here the records come
    from a real (moto) queue, the first invocation's answer is lost, and SQS redelivers."""
    source = stack.sqs.create_queue(QueueName=f"source-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])
    for body in ("{not json", json.dumps(payload())):
        stack.sqs.send_message(QueueUrl=source, MessageBody=body)

    def deliver() -> dict[str, Any]:
        messages = stack.sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {},
                    "eventSourceARN": arn["Attributes"]["QueueArn"],
                }
                for m in messages
            ]
        }

    first = deliver()
    bad_id = next(r["messageId"] for r in first["Records"] if r["body"] == "{not json")
    stack.invoke(first)
    # When the invocation is killed before answering: SQS makes what is left visible again
    for record in first["Records"]:
        with contextlib.suppress(ClientError):  # the letter's record is already deleted
            stack.sqs.change_message_visibility(
                QueueUrl=source, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
    second = deliver()
    assert [r["body"] for r in second["Records"]] == [json.dumps(payload())]
    stack.invoke(second)
    # Then the bad record is in the dead-letter queue once
    copies = [
        m["MessageAttributes"]["original_message_id"]["StringValue"]
        for m in stack.dead_letter_messages()
    ]
    assert copies == [bad_id]
