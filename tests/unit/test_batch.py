"""The batch end to end with moto's SQS and a scripted Data API: letters, retries, redelivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Unpack

import boto3
import pytest
from moto import mock_aws

from ingest.batch import BatchIngest, BatchReport, NothingProgressed
from ingest.catalog import CATALOG_QUERY
from ingest.config import Settings, Target
from ingest.ports import ExecuteStatementReply, ExecuteStatementRequest
from ingest.wiring import Clients, Timing, build_ingest, deadlines_for
from tests.support import payload, sqs_event
from tests.unit.fakes import FakeClock, FakeDataApi, FakeStatement, client_error

PRIMARY = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")
SECONDARY = Target(name="secondary", database="dev", workgroup_name="wg2")


@dataclass
class World:
    fake: FakeDataApi
    clock: FakeClock
    sqs: Any
    dlq_url: str
    settings: Settings

    def ingest(self, **overrides: Any) -> BatchIngest:
        settings = replace(self.settings, **overrides)
        clients = Clients(self.fake, self.fake, self.sqs)
        timing = Timing(self.clock, self.clock.sleep, lambda: 1.7e9 + self.clock(), seed=1)
        return build_ingest(settings, clients, timing)

    def report(self, event: dict[str, Any], **overrides: Any) -> BatchReport:
        ingest = self.ingest(**overrides)
        timing = Timing(self.clock, self.clock.sleep)
        return ingest.process(event, deadlines_for(ingest.settings, 120, timing))

    def run(self, event: dict[str, Any], **overrides: Any) -> list[str]:
        return list(self.report(event, **overrides).retried)

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return sorted(
            messages, key=lambda m: m["MessageAttributes"]["original_message_id"]["StringValue"]
        )

    def landed(self, cluster: str) -> list[str]:
        return sorted(v for v in self.fake.finished_values(cluster) if v.startswith("msg-"))


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
        settings = Settings(
            targets=(PRIMARY,),
            table="public.appsflyer_events",
            dead_letter_queue_url=dlq_url,
        )
        yield World(FakeDataApi(), FakeClock(), sqs, dlq_url, settings)


def test_clean_batch_returns_no_failures(world: World) -> None:
    assert world.run(sqs_event([payload()] * 10)) == []
    assert len(world.fake.inserts()) == 1
    assert world.dead_letters() == []


def test_invalid_records_are_dead_lettered_not_retried(world: World) -> None:
    bodies = [payload(), "{oops", payload(wifi="maybe"), payload(country_code="€" * 4), payload()]
    event = sqs_event(bodies)
    assert world.run(event) == []
    letters = world.dead_letters()
    assert [m["MessageAttributes"]["reason"]["StringValue"] for m in letters] == [
        "invalid_json",
        "invalid_boolean",
        "value_too_long",
    ]
    assert [m["Body"] for m in letters] == [event["Records"][i]["body"] for i in (1, 2, 3)]
    assert "country_code" in letters[2]["MessageAttributes"]["reason_detail"]["StringValue"]
    assert world.landed("c1") == ["msg-00000", "msg-00004"]


def test_row_the_database_rejects_is_dead_lettered_with_its_error(world: World) -> None:
    world.fake.poison = {"POISON"}
    event = sqs_event([payload(), payload(city="POISON"), payload()])
    assert world.run(event) == []
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "rejected_by_database"
    assert attributes["original_message_id"]["StringValue"] == "msg-00001"
    assert attributes["failed_targets"]["StringValue"] == "primary"
    assert "value too long" in attributes["reason_detail"]["StringValue"]


def test_failed_dead_letter_send_returns_the_record_instead(world: World) -> None:
    event = sqs_event([payload(), "{oops"])
    retry = world.run(event, dead_letter_queue_url=world.dlq_url + "-missing")
    assert retry == ["msg-00001"]


def test_transient_failure_of_part_returns_exactly_those_records(world: World) -> None:
    # Two statements; the second is refused by the quota until retries run out.
    def refuse_later_submits(statement: FakeStatement) -> None:
        if statement.sql.startswith("INSERT"):  # not the catalog read before it
            world.fake.submit_errors.setdefault(
                "c1", [client_error("ActiveStatementsExceededException") for _ in range(9)]
            )

    world.fake.on_execute = refuse_later_submits
    event = sqs_event([payload(user_agent=f"UA-{i}-" + "x" * 1800) for i in range(40)])
    # One INSERT per transaction: two transactions, committed one after the other.
    retry = world.run(
        event, statement_max_bytes=60_000, max_transient_retries=2, statements_per_transaction=1
    )
    written = {v for v in world.fake.finished_values("c1") if v.startswith("msg-")}
    assert retry
    assert set(retry).isdisjoint(written)
    assert set(retry) | written == {r["messageId"] for r in event["Records"]}


def test_nothing_written_and_nothing_dead_lettered_raises(world: World) -> None:
    world.fake.submit_errors = {"*": [client_error("ThrottlingException") for _ in range(20)]}
    with pytest.raises(NothingProgressed) as raised:
        world.run(sqs_event([payload(idfa="SECRET-DEVICE")] * 3))
    # The exception's text is what Lambda logs: a count, no report, no value.
    assert str(raised.value) == "none of 3 records could be written or dead-lettered"
    assert raised.value.report.retried == ("msg-00000", "msg-00001", "msg-00002")


def test_duplicate_message_in_one_batch_is_written_once(world: World) -> None:
    event = sqs_event([payload(), payload()])
    event["Records"].append(dict(event["Records"][0]))
    assert world.run(event) == []
    assert world.landed("c1") == ["msg-00000", "msg-00001"]


def two_targets() -> dict[str, Any]:
    return {"targets": (PRIMARY, SECONDARY)}


def test_secondary_failure_returns_records_and_the_redelivery_writes_only_there(
    world: World,
) -> None:
    # Given the secondary refuses submits until retries run out
    world.fake.submit_errors = {"wg2": [client_error("ServiceUnavailable") for _ in range(4)]}
    bodies = [payload(customer_user_id=f"u{i}") for i in range(5)]
    ids = [f"msg-{i:05d}" for i in range(5)]

    # When the batch runs, every record comes back (the primary took them all)
    assert world.run(sqs_event(bodies), **two_targets()) == ids
    assert world.landed("c1") == ids

    # When SQS redelivers them, the primary says it holds them and only the secondary writes
    report = world.report(sqs_event(bodies, receive_count=2), **two_targets())
    assert report.retried == ()
    assert world.landed("c1") == ids  # once, not twice
    assert world.landed("wg2") == ids
    primary = next(t for t in report.targets if t.target == "primary")
    assert primary.already_held == frozenset(ids)
    assert report.summary()["rows_already_present"] == {"primary": 5, "secondary": 0}


def test_first_delivery_never_asks_a_target_what_it_holds(world: World) -> None:
    world.run(sqs_event([payload()] * 3), **two_targets())
    assert "ListStatements" not in world.fake.calls
    # Each target's table is read once (cold start); then only INSERTs, no presence SELECT
    assert (world.fake.catalog_reads("c1"), world.fake.catalog_reads("wg2")) == (1, 1)
    others = [s.sql.split()[0] for s in world.fake.statements if s.sql != CATALOG_QUERY]
    assert others == ["INSERT", "INSERT"]


def test_target_that_cannot_say_what_it_holds_gets_nothing_redelivered(world: World) -> None:
    # Given a redelivered batch, and a Data API that cannot list statements
    world.fake.list_errors = [client_error("InternalServerException") for _ in range(9)]
    # When it runs, nothing is written (that could duplicate), and the records come back
    with pytest.raises(NothingProgressed):
        world.run(sqs_event([payload()], receive_count=3))
    assert world.fake.inserts() == []


def test_targets_are_written_concurrently(world: World) -> None:
    world.run(sqs_event([payload()] * 10), **two_targets())
    assert {s.target for s in world.fake.inserts()} == {"c1", "wg2"}
    assert len(world.fake.inserts()) == 2


def test_record_rejected_by_one_target_and_written_to_another_is_dead_lettered(
    world: World,
) -> None:
    world.fake.poison = {"POISON"}
    original = world.fake.execute_statement

    def primary_accepts_everything(
        **request: Unpack[ExecuteStatementRequest],
    ) -> ExecuteStatementReply:
        poison, world.fake.poison = (
            world.fake.poison,
            set() if "ClusterIdentifier" in request else world.fake.poison,
        )
        try:
            return original(**request)
        finally:
            world.fake.poison = poison

    world.fake.execute_statement = primary_accepts_everything  # type: ignore[method-assign]
    event = sqs_event([payload(), payload(city="POISON")])
    assert world.run(event, **two_targets()) == []
    [letter] = world.dead_letters()
    assert letter["MessageAttributes"]["failed_targets"]["StringValue"] == "secondary"
    assert json.loads(letter["Body"])["city"] == "POISON"


def redriven(body: Any, delivery_id: str, original_id: str, failed_targets: str) -> dict[str, Any]:
    event = sqs_event([body], prefix=delivery_id)
    event["Records"][0]["messageAttributes"] = {
        "original_message_id": {"stringValue": original_id, "dataType": "String"},
        "failed_targets": {"stringValue": failed_targets, "dataType": "String"},
    }
    return event


def test_redrive_writes_only_to_the_targets_named_under_the_original_id(world: World) -> None:
    # Given a record the secondary rejected once and the primary holds under msg-00000
    event = redriven(payload(), "redrive", "msg-00000", "secondary")
    # When it is redriven (a new delivery id, the dead letter's attributes)
    report = world.report(event, **two_targets())
    # Then only the secondary is written, under the original identity
    assert report.retried == ()
    assert world.landed("c1") == []
    assert world.landed("wg2") == ["msg-00000"]
    assert not any(s.target == "c1" for s in world.fake.inserts())


def test_redrive_to_a_target_that_already_holds_the_record_writes_nothing(world: World) -> None:
    world.run(sqs_event([payload()]), **two_targets())  # both hold msg-00000
    report = world.report(
        redriven(payload(), "again", "msg-00000", "primary,secondary"), **two_targets()
    )
    assert report.retried == ()
    assert world.landed("c1") == ["msg-00000"]
    assert world.landed("wg2") == ["msg-00000"]
    assert {t.target: len(t.already_held) for t in report.targets} == {
        "primary": 1,
        "secondary": 1,
    }


def test_redrive_naming_an_unknown_target_is_dead_lettered_again(world: World) -> None:
    assert world.run(redriven(payload(), "r", "msg-00000", "tertiary"), **two_targets()) == []
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "invalid_redrive"
    assert "tertiary" not in attributes["reason_detail"]["StringValue"]
    assert world.fake.inserts() == []


def test_dead_letters_carry_the_targets_that_lack_the_record(world: World) -> None:
    world.run(sqs_event(["{oops"]), **two_targets())
    [letter] = world.dead_letters()
    assert letter["MessageAttributes"]["failed_targets"]["StringValue"] == "primary,secondary"


def test_database_error_text_is_masked_in_the_dead_letter(world: World) -> None:
    world.fake.poison = {"POISON"}
    world.fake.poison_error = 'invalid input syntax for type numeric: "POISON"\nDETAIL: row\x07'
    world.run(sqs_event([payload(), payload(city="POISON")]))
    [letter] = world.dead_letters()
    detail = letter["MessageAttributes"]["reason_detail"]["StringValue"]
    assert detail == "invalid input syntax for type numeric: …"


def test_a_dead_lettered_record_is_deleted_from_its_queue_at_once(world: World) -> None:
    # Given a bad record delivered from a real queue
    source = world.sqs.create_queue(QueueName="appsflyer-events")["QueueUrl"]
    world.sqs.send_message(QueueUrl=source, MessageBody="{oops")
    [message] = world.sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)["Messages"]
    arn = world.sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])
    event = sqs_event(["{oops"])
    record = event["Records"][0]
    record.update(
        messageId=message["MessageId"],
        receiptHandle=message["ReceiptHandle"],
        eventSourceARN=arn["Attributes"]["QueueArn"],
    )
    # When the batch runs (and the invocation would be killed before Lambda deletes it)
    report = world.report(event)
    # Then its letter is in the DLQ and the record is already gone from the source queue:
    # a kill now cannot bring it back to be dead-lettered twice
    assert [m["Body"] for m in world.dead_letters()] == ["{oops"]
    assert report.dead_letters_not_deleted == 0
    assert world.sqs.receive_message(QueueUrl=source).get("Messages", []) == []


def test_queue_url_from_an_arn() -> None:
    from ingest.source_queue import queue_url

    assert queue_url("arn:aws:sqs:eu-west-1:123456789012:events") == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/events"
    )
    assert queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo") == (
        "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo"
    )
    assert queue_url("not-an-arn") is None


def test_redrive_naming_another_records_id_is_dead_lettered_not_skipped(world: World) -> None:
    world.run(sqs_event([payload(event_name="af_purchase")]), **two_targets())
    forged = redriven(payload(event_name="af_refund"), "forged", "msg-00000", "primary,secondary")
    report = world.report(forged, **two_targets())
    assert report.retried == ()
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "invalid_redrive"
    assert "different record" in attributes["reason_detail"]["StringValue"]
    assert world.landed("c1") == ["msg-00000"]  # the held row alone, not overwritten or doubled
