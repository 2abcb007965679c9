"""Outages end with every record in a target or in our dead-letter queue (never SQS's silent
move), and no record is stored twice however many letters it has (issue 18). The real handler,
the local Data API on PostgreSQL, moto's SQS."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

import app
from ingest.batch import BatchIngest
from ingest.config import load_settings
from ingest.presence import TargetPresence
from ingest.wiring import build_ingest, deadlines_for
from local.stack import LocalDataApi
from tests.integration.conftest import ADDRESS, PRIMARY, SECONDARY, Stack, configure
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration

MAX_RECEIVES = 3


def receive(event: dict[str, Any], ids: list[str], receive_count: int) -> dict[str, Any]:
    """The records of `event` named by `ids`, as SQS delivers them on receive `receive_count`."""
    records = [dict(r) for r in event["Records"] if r["messageId"] in ids]
    for record in records:
        record["attributes"] = {
            **record["attributes"],
            "ApproximateReceiveCount": str(receive_count),
        }
    return {"Records": records}


def redrive_event(letters: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """Letters moved back to the source queue as the runbook does: body and attributes kept."""
    event = sqs_event([letter["Body"] for letter in letters], prefix=prefix)
    for record, letter in zip(event["Records"], letters, strict=True):
        record["messageAttributes"] = {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in letter["MessageAttributes"].items()
        }
    return event


def test_a_one_target_outage_ends_in_the_primary_and_our_letters_and_a_redrive_fills_the_gap(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY, SECONDARY], SOURCE_MAX_RECEIVE_COUNT=str(MAX_RECEIVES))
    stack.read_tables()
    # Given a secondary that refuses every call for longer than the queue's maxReceiveCount
    data_api.deny_access(ADDRESS["secondary"])
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(12)], prefix="outage")
    ids = [r["messageId"] for r in event["Records"]]
    # When SQS delivers the records receive after receive, as long as the function returns them
    returned = ids
    for receive_count in range(1, MAX_RECEIVES + 1):
        delivery = receive(event, returned, receive_count)
        try:
            returned = stack.invoke(delivery)
        except app.BatchNotProcessed:
            # Nothing written (the primary holds them all) and nothing dead-lettered: the
            # function raises so that Lambda backs off; SQS redelivers the whole batch.
            returned = [r["messageId"] for r in delivery["Records"]]
        if receive_count < MAX_RECEIVES:
            assert sorted(returned) == sorted(ids)
    # Then nothing is left for SQS to move: every record is once in the primary, and once in
    # our dead-letter queue naming the secondary only, with its original id and a reason
    assert returned == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == {}
    letters = stack.dead_letter_messages()
    attributes = {
        m["MessageAttributes"]["original_message_id"]["StringValue"]: {
            k: v["StringValue"] for k, v in m["MessageAttributes"].items()
        }
        for m in letters
    }
    assert sorted(attributes) == sorted(ids)
    assert len(letters) == len(ids)
    for letter in attributes.values():
        assert letter["failed_targets"] == "secondary"
        assert letter["reason"] == "receives_exhausted"
        assert f"receive {MAX_RECEIVES} of {MAX_RECEIVES} (secondary)" in letter["reason_detail"]
    # And once the secondary is back, a redrive of the letters writes each once there only
    data_api.allow_access(ADDRESS["secondary"])
    assert stack.invoke(redrive_event(letters, "redriven")) == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)


@pytest.fixture
def containers(stack: Stack) -> Callable[[], BatchIngest]:
    """Lambda containers of the function: each its own clients, caches and writer."""

    def cold_start() -> BatchIngest:
        return build_ingest(load_settings(os.environ))

    return cold_start


@pytest.fixture
def look_ups_in_step(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Two invocations whose first presence look-ups both end before either writes: the
    interleaving in which both find nothing (the one a look-up alone cannot survive)."""
    barrier = threading.Barrier(2, timeout=30)
    first_call = threading.local()
    original = TargetPresence.held

    def held_in_step(self: TargetPresence, *args: Any, **kwargs: Any) -> Any:
        found = original(self, *args, **kwargs)
        if not getattr(first_call, "done", False):
            first_call.done = True
            barrier.wait()
        return found

    monkeypatch.setattr(TargetPresence, "held", held_in_step)
    return barrier


def test_two_letters_of_one_record_redriven_at_once_store_it_once(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    containers: Callable[[], BatchIngest],
    look_ups_in_step: threading.Barrier,
) -> None:
    configure(monkeypatch, [PRIMARY])
    # Given two letters of one record (a dead-letter send whose reply was lost was sent again
    # on redelivery), both naming the primary
    original = sqs_event([payload(customer_user_id="twice")], prefix="lost-reply")
    record = original["Records"][0]
    letter_attributes = {
        "original_message_id": {"StringValue": record["messageId"], "DataType": "String"},
        "failed_targets": {"StringValue": "primary", "DataType": "String"},
        "reason": {"StringValue": "receives_exhausted", "DataType": "String"},
    }
    letter = {"Body": record["body"], "MessageAttributes": letter_attributes}
    first, second = redrive_event([letter], "redrive-a"), redrive_event([letter], "redrive-b")
    # When two containers redrive them at the same instant, both looking up before either writes
    outcomes: list[Any] = []

    def run(event: dict[str, Any]) -> None:
        ingest = containers()
        outcomes.append(ingest.process(event, deadlines_for(ingest.settings, 60)))

    threads = [threading.Thread(target=run, args=(e,)) for e in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then the record is stored once: one claim committed, the other found it and held it
    assert len(outcomes) == 2
    assert stack.counts("primary") == {record["messageId"]: 1}
    assert all(report.returned == () for report in outcomes)
    held = [t for report in outcomes for t in report.targets if t.already_held]
    written = [t for report in outcomes for t in report.targets if t.written]
    assert len(held) == 1
    assert len(written) == 1


def test_a_redrive_naming_another_purchase_of_the_same_user_is_dead_lettered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY, SECONDARY])
    # Given a purchase held in both targets
    held = payload(event_name="af_purchase", event_revenue=10, city="Lyon")
    event = sqs_event([held], prefix="held")
    assert stack.invoke(event) == []
    original_id = event["Records"][0]["messageId"]
    # When a letter of another purchase by the same user (same appsflyer_id and event_name,
    # other values) is redriven naming that record's id
    other = payload(event_name="af_purchase", event_revenue=99, city="Oslo")
    attributes = {
        "original_message_id": {"StringValue": original_id, "DataType": "String"},
        "failed_targets": {"StringValue": "primary,secondary", "DataType": "String"},
    }
    forged = redrive_event([{"Body": json.dumps(other), "MessageAttributes": attributes}], "forged")
    assert stack.invoke(forged) == []
    # Then it is not acknowledged as held: it is in our dead-letter queue with its values
    [letter] = stack.dead_letter_messages()
    assert letter["MessageAttributes"]["reason"]["StringValue"] == "invalid_redrive"
    assert json.loads(letter["Body"]) == other
    for target in ADDRESS:
        assert stack.counts(target) == {original_id: 1}
    # And a redrive of the record itself, every value equal (SUPER and timestamps included),
    # is still found held and written nowhere again
    attributes["original_message_id"]["StringValue"] = original_id
    same = redrive_event([{"Body": json.dumps(held), "MessageAttributes": attributes}], "same")
    assert stack.invoke(same) == []
    assert stack.dead_letter_messages() == []
    for target in ADDRESS:
        assert stack.counts(target) == {original_id: 1}
