"""The promise on the real stack: values stored as sent, and each record once per target after
kills, orphans, redeliveries and redrives (local Data API on PostgreSQL, moto's SQS)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import app
from local.stack import LocalDataApi
from tests.integration.conftest import ADDRESS, PRIMARY, Stack, configure
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration


def redeliver(event: dict[str, Any], receive_count: int = 2) -> dict[str, Any]:
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


def test_numbers_are_stored_digit_for_digit(stack: Stack) -> None:
    # Given numbers no binary float holds, and literals whose spelling matters
    written_below = {"event_revenue_usd", "af_c_id", "af_sub1", "event_value"}
    base = {k: v for k, v in payload(event_revenue=0).items() if k not in written_below}
    body = json.dumps(base)[:-1] + (
        ', "event_revenue_usd": 12345678901.123456, "af_c_id": 19.90, "af_sub1": 1E400'
        ', "event_value": "{\\"price\\": 19.90, \\"big\\": 123456789012345678901234567890,'
        ' \\"name\\": \\"caf\\u00e9\\"}"'
        ', "unknown": {"n": 0.10000000000000000001, "t": "\\u00fc"}}'
    )
    # When the handler runs
    assert stack.invoke(sqs_event([body])) == []
    # Then every column holds exactly what was sent
    with stack.data_api.connect("primary-cluster", "dev") as conn:
        stored = conn.execute(
            "SELECT event_revenue_usd::text, af_c_id, af_sub1, event_value::text, extra::text "
            "FROM public.appsflyer_events"
        ).fetchone()
    assert stored is not None
    revenue, text, huge, event_value, extra = stored
    assert revenue == "12345678901.123456"
    assert text == "19.90"
    assert huge == "1E400"
    assert "19.90" in event_value
    assert "123456789012345678901234567890" in event_value
    assert "0.10000000000000000001" in extra


def test_invocation_killed_after_its_commit_writes_nothing_twice(stack: Stack) -> None:
    # Given an invocation whose rows committed in both targets, then was killed before
    # answering SQS (its response is lost: every record is redelivered)
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(20)])
    ids = [r["messageId"] for r in event["Records"]]
    stack.invoke(event)
    # When SQS redelivers the whole batch
    assert stack.invoke(redeliver(event)) == []
    # Then the targets said they hold every record: each is there once
    for target in ADDRESS:
        assert stack.counts(target) == dict.fromkeys(ids, 1)


def test_orphan_statement_of_a_killed_invocation_is_cancelled_before_the_rows_are_asked_for(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY])
    # Given an INSERT of these rows, submitted by an invocation long dead, still running
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(5)])
    ids = [r["messageId"] for r in event["Records"]]
    data_api.hang_next("primary-cluster", 1)
    client = data_api.client()
    orphan = client.execute_statement(
        ClusterIdentifier="primary-cluster",
        DbUser="ingest",
        Database="dev",
        Sql="INSERT INTO public.appsflyer_events (appsflyer_id, event_name, event_time, "
        "sqs_message_id) VALUES ('a', 'b', '2024-05-01 00:00:00', :m)",
        Parameters=[{"name": "m", "value": ids[0]}],
        StatementName="sqs-redshift-ingest/primary/1000000000/dead0001",
    )["Id"]
    # When the batch is redelivered
    assert stack.invoke(redeliver(event)) == []
    # Then the orphan was cancelled first (it can no longer commit a second copy)
    assert client.describe_statement(Id=orphan)["Status"] == "ABORTED"
    assert stack.counts("primary") == dict.fromkeys(ids, 1)


def test_split_outcome_then_redelivery_then_redrive_leaves_each_row_once(
    stack: Stack, data_api: LocalDataApi
) -> None:
    # Given a secondary whose city column is narrower than the schema believes
    with data_api.connect("secondary-wg", "dev") as conn:
        conn.execute("ALTER TABLE public.appsflyer_events ALTER COLUMN city TYPE VARCHAR(4)")
    event = sqs_event([payload(city="Rio de Janeiro"), payload(city="Ulm")], prefix="split")
    # When the batch runs: the long city lands in the primary, is rejected by the secondary
    assert stack.invoke(event) == []
    [letter] = stack.dead_letter_messages()
    attributes = letter["MessageAttributes"]
    assert attributes["failed_targets"]["StringValue"] == "secondary"
    assert attributes["original_message_id"]["StringValue"] == "split-00000"
    # And once the operator widens the column, the letter is redriven to the source queue
    with data_api.connect("secondary-wg", "dev") as conn:
        conn.execute("ALTER TABLE public.appsflyer_events ALTER COLUMN city TYPE VARCHAR(255)")
    redriven = sqs_event([letter["Body"]], prefix="redriven")
    redriven["Records"][0]["messageAttributes"] = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in attributes.items()
    }
    assert stack.invoke(redriven) == []
    # Then each record is in each target exactly once, under its original id
    for target in ADDRESS:
        assert stack.counts(target) == {"split-00000": 1, "split-00001": 1}


def test_lost_reply_then_throttled_retries_is_found_by_name_and_never_rewritten(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY], MAX_TRANSIENT_RETRIES="2")
    stack.read_tables()
    # Given a submit that commits but whose reply is lost, and retries that are all throttled
    data_api.lose_reply_next("primary-cluster", 1, "BatchExecuteStatement")
    # The first submit passes, then 100 s of no (a guarded transaction is a BatchExecuteStatement)
    data_api.set_throttle({"BatchExecuteStatement": 0.01})
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(4)])
    ids = [r["messageId"] for r in event["Records"]]
    # When the batch runs, the statement is found by its name and its rows count as written
    assert stack.invoke(event) == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    # The catalog read, then the transaction's submit and its two retries (refused)
    calls = data_api.api_calls()
    assert (calls["ExecuteStatement"], calls["BatchExecuteStatement"]) == (1, 3)
    # And a redelivery (SQS at least once) writes nothing again
    data_api.set_throttle({})
    assert stack.invoke(redeliver(event)) == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)


def test_reply_held_past_the_read_timeout_is_never_written_twice(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY], STATEMENT_WAIT_SECONDS="1")
    # Given the service takes the submit at once but answers only after the client gave up
    data_api.delay_reply_next("ExecuteStatement", 8.0, 1, "primary-cluster")
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(3)])
    ids = [r["messageId"] for r in event["Records"]]
    retried = stack.invoke(event, remaining_ms=40_000)
    # Then each row is there once, whatever this invocation concluded, and once after redelivery
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    if retried:
        assert stack.invoke(redeliver(event)) == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)


def test_refused_cancels_are_retried_until_no_statement_of_the_invocation_runs(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY])
    data_api.hang_next("primary-cluster", 1)
    data_api.fail_cancel_next("primary-cluster", 3, "ThrottlingException")
    event = sqs_event([payload()])
    with pytest.raises(app.BatchNotProcessed):
        stack.invoke(event, remaining_ms=25_000)
    stats = data_api.stats("primary-cluster")
    assert (stats.aborted, stats.active) == (1, 0)
    assert data_api.api_calls()["CancelStatement"] == 4


@pytest.mark.parametrize("outcome", ["ABORTED", "FINISHED"])
def test_slow_cancel_settles_to_what_the_statement_really_did(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    configure(monkeypatch, [PRIMARY])
    stack.read_tables()
    data_api.hang_next("primary-cluster", 1)
    data_api.slow_cancel_next("primary-cluster", 1, 1.5, outcome)
    event = sqs_event([payload()])
    ids = [r["messageId"] for r in event["Records"]]
    if outcome == "FINISHED":
        assert stack.invoke(event, remaining_ms=25_000) == []  # it committed: written
    else:
        with pytest.raises(app.BatchNotProcessed):
            stack.invoke(event, remaining_ms=25_000)
    assert data_api.stats("primary-cluster").active == 0
    stack.invoke(redeliver(event)) if outcome == "ABORTED" else None
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
