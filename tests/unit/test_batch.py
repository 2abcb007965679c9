"""The batch end to end with moto's SQS and DynamoDB: dead letters, retries, the ledger."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest.batch import BatchProcessor, BatchRetryRequested
from ingest.config import Settings, Target
from ingest.dead_letter import DeadLetterQueue
from ingest.deadline import Deadline
from ingest.ledger import Ledger
from ingest.redshift import DataApi
from ingest.writer import TargetWriter
from local.aws_doubles import create_ledger_table
from tests.support import payload, sqs_event
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

PRIMARY = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")
SECONDARY = Target(name="secondary", database="dev", workgroup_name="wg2")
LEDGER = "ingest-ledger"


@dataclass
class World:
    fake: FakeDataApi
    clock: FakeClock
    sqs: Any
    dynamodb: Any
    dlq_url: str
    settings: Settings

    def processor(self, **overrides: Any) -> BatchProcessor:
        settings = replace(self.settings, **overrides)
        api = DataApi(self.fake, supports_wait=True, sleep=self.clock.sleep, clock=self.clock)  # type: ignore[arg-type]
        ledger = Ledger(self.dynamodb, LEDGER, ttl_days=15) if settings.ledger_table else None
        return BatchProcessor(
            settings=settings,
            writer=TargetWriter(api, settings, rng=random.Random(1), sleep=self.clock.sleep),
            dead_letters=DeadLetterQueue(self.sqs, settings.dead_letter_queue_url),
            ledger=ledger,
        )

    def run(self, event: dict[str, Any], **overrides: Any) -> list[str]:
        retry, _ = self.processor(**overrides).process(
            event["Records"], Deadline.after(60, self.clock)
        )
        return retry

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return sorted(
            messages, key=lambda m: m["MessageAttributes"]["original_message_id"]["StringValue"]
        )

    def ledger_items(self) -> set[tuple[str, str]]:
        items = self.dynamodb.scan(TableName=LEDGER)["Items"]
        return {(i["message_id"]["S"], i["target"]["S"]) for i in items}


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dlq_url = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
        create_ledger_table(dynamodb, LEDGER)
        settings = Settings(
            targets=(PRIMARY,),
            table="public.appsflyer_events",
            dead_letter_queue_url=dlq_url,
            ledger_table=None,
        )
        yield World(FakeDataApi(), FakeClock(), sqs, dynamodb, dlq_url, settings)


def test_clean_batch_returns_no_failures(world: World) -> None:
    assert world.run(sqs_event([payload()] * 10)) == []
    assert len(world.fake.statements) == 1
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
    written = [v for v in world.fake.finished_values("c1") if v.startswith("msg-")]
    assert sorted(written) == ["msg-00000", "msg-00004"]


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
    def refuse_later_submits(_: object) -> None:
        world.fake.submit_errors.setdefault(
            "c1", [client_error("ActiveStatementsExceededException") for _ in range(9)]
        )

    world.fake.on_execute = refuse_later_submits
    event = sqs_event([payload(user_agent=f"UA-{i}-" + "x" * 1800) for i in range(40)])
    retry = world.run(event, statement_max_bytes=60_000, max_transient_retries=2)
    written = {v for v in world.fake.finished_values("c1") if v.startswith("msg-")}
    assert retry
    assert set(retry).isdisjoint(written)
    assert set(retry) | written == {r["messageId"] for r in event["Records"]}


def test_nothing_written_and_nothing_dead_lettered_raises(world: World) -> None:
    world.fake.submit_errors = {"*": [client_error("ThrottlingException") for _ in range(20)]}
    with pytest.raises(BatchRetryRequested):
        world.run(sqs_event([payload()] * 3))


def test_duplicate_message_in_one_batch_is_written_once(world: World) -> None:
    event = sqs_event([payload(), payload()])
    event["Records"].append(dict(event["Records"][0]))
    assert world.run(event) == []
    written = [v for v in world.fake.finished_values("c1") if v.startswith("msg-")]
    assert sorted(written) == ["msg-00000", "msg-00001"]


def two_targets(world: World) -> dict[str, Any]:
    return {"targets": (PRIMARY, SECONDARY), "ledger_table": LEDGER}


def test_secondary_failure_returns_records_and_retry_writes_only_to_secondary(world: World) -> None:
    # Given the secondary refuses submits until retries run out
    world.fake.submit_errors = {"wg2": [client_error("InternalServerException") for _ in range(4)]}
    event = sqs_event([payload(customer_user_id=f"u{i}") for i in range(5)])
    ids = [r["messageId"] for r in event["Records"]]

    # When the batch runs, every record comes back and the ledger notes the primary has it
    retry = world.run(event, **two_targets(world))
    assert retry == ids
    assert world.ledger_items() == {(m, "primary") for m in ids}

    # When SQS redelivers it, only the secondary receives the rows
    redelivered = sqs_event([payload(customer_user_id=f"u{i}") for i in range(5)], receive_count=2)
    assert world.run(redelivered, **two_targets(world)) == []
    primary = [v for v in world.fake.finished_values("c1") if v.startswith("msg-")]
    secondary = [v for v in world.fake.finished_values("wg2") if v.startswith("msg-")]
    assert sorted(primary) == ids
    assert sorted(secondary) == ids


def test_unwritable_ledger_is_reported_with_the_affected_ids(world: World) -> None:
    # Given a secondary that refuses, and a ledger that cannot be written
    world.fake.submit_errors = {"wg2": [client_error("InternalServerException") for _ in range(4)]}
    processor = world.processor(**two_targets(world))
    assert processor.ledger is not None
    processor.ledger._table = "missing-table"
    processor.ledger._sleep = lambda _: None
    event = sqs_event([payload()] * 2)
    # When the batch runs
    retry, report = processor.process(event["Records"], Deadline.after(60, world.clock))
    # Then the records still come back, and the report names those that may be duplicated
    assert retry == ["msg-00000", "msg-00001"]
    assert report.ledger_errors == 1
    assert report.unrecorded_split == ["msg-00000", "msg-00001"]


def test_redelivery_counts_rows_skipped_because_a_target_has_them(world: World) -> None:
    world.fake.submit_errors = {"wg2": [client_error("InternalServerException") for _ in range(4)]}
    world.run(sqs_event([payload()] * 3), **two_targets(world))
    processor = world.processor(**two_targets(world))
    redelivered = sqs_event([payload()] * 3, receive_count=2)
    retry, report = processor.process(redelivered["Records"], Deadline.after(60, world.clock))
    assert retry == []
    assert report.skipped_already_written == 3


def test_first_delivery_never_reads_the_ledger(world: World) -> None:
    processor = world.processor(**two_targets(world))
    assert processor.ledger is not None
    calls: list[str] = []

    def spy(*_: object) -> dict[str, set[str]]:
        calls.append("read")
        return {}

    processor.ledger.targets_holding = spy  # type: ignore[method-assign,assignment]
    processor.process(sqs_event([payload()] * 3)["Records"], Deadline.after(60, world.clock))
    assert calls == []
    assert world.ledger_items() == set()  # nor writes it when both targets succeed


def test_unreadable_ledger_returns_redelivered_records_without_writing(world: World) -> None:
    event = sqs_event([payload()], receive_count=3)
    settings = two_targets(world) | {"ledger_table": "missing-table"}
    processor = world.processor(**settings)
    processor.ledger._table = "missing-table"  # type: ignore[union-attr]
    with pytest.raises(BatchRetryRequested) as raised:
        processor.process(event["Records"], Deadline.after(60, world.clock))
    assert raised.value.args[0].ledger_errors == 1
    assert world.fake.statements == []


def test_targets_are_written_concurrently(world: World) -> None:
    world.run(sqs_event([payload()] * 10), **two_targets(world))
    assert {s.target for s in world.fake.statements} == {"c1", "wg2"}
    assert len(world.fake.statements) == 2


def test_record_rejected_by_one_target_and_written_to_another_is_dead_lettered(
    world: World,
) -> None:
    world.fake.poison = {"POISON"}
    original = world.fake.execute_statement

    def primary_accepts_everything(**request: Any) -> dict[str, Any]:
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
    assert world.run(event, **two_targets(world)) == []
    [letter] = world.dead_letters()
    assert letter["MessageAttributes"]["failed_targets"]["StringValue"] == "secondary"
    assert json.loads(letter["Body"])["city"] == "POISON"
