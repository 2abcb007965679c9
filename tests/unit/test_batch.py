"""The batch end to end with moto's SQS and a scripted Data API: letters, retries, redelivery."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Unpack

import boto3
import pytest
from moto import mock_aws

from ingest.batch import BatchIngest, BatchReport, NothingProgressed
from ingest.catalog import CATALOG_QUERY
from ingest.config import Roles, Settings, Target
from ingest.layout import SchemaError, TableLayout, build_layout
from ingest.ports import (
    BatchExecuteStatementReply,
    BatchExecuteStatementRequest,
)
from ingest.records import Decoded, Rejection, Row
from ingest.row_reader import RowReader
from ingest.schema import Column, ColumnKind, TableSchema
from ingest.wiring import Clients, Timing, build_ingest, deadlines_for
from local.appsflyer import appsflyer_layout, appsflyer_schema
from tests.support import payload, sqs_event
from tests.unit.fakes import FakeClock, FakeDataApi, FakeStatement, client_error
from tests.unit.orders import ORDER_ROLES, ORDERS, ORDERS_TABLE, read

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
        return list(self.report(event, **overrides).returned)

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
    assert raised.value.report.returned == ("msg-00000", "msg-00001", "msg-00002")


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
    assert report.returned == ()
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
    original = world.fake.batch_execute_statement

    def primary_accepts_everything(
        **request: Unpack[BatchExecuteStatementRequest],
    ) -> BatchExecuteStatementReply:
        poison, world.fake.poison = (
            world.fake.poison,
            set() if "ClusterIdentifier" in request else world.fake.poison,
        )
        try:
            return original(**request)
        finally:
            world.fake.poison = poison

    world.fake.batch_execute_statement = primary_accepts_everything  # type: ignore[method-assign]
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
    assert report.returned == ()
    assert world.landed("c1") == []
    assert world.landed("wg2") == ["msg-00000"]
    assert not any(s.target == "c1" for s in world.fake.inserts())


def test_redrive_to_a_target_that_already_holds_the_record_writes_nothing(world: World) -> None:
    world.run(sqs_event([payload()]), **two_targets())  # both hold msg-00000
    report = world.report(
        redriven(payload(), "again", "msg-00000", "primary,secondary"), **two_targets()
    )
    assert report.returned == ()
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
    assert report.returned == ()
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "invalid_redrive"
    assert "different record" in attributes["reason_detail"]["StringValue"]
    assert world.landed("c1") == ["msg-00000"]  # the held row alone, not overwritten or doubled


# ---- any table: each target's own table, read from its catalog ---------------------------------


def narrowed_city(width: int) -> TableSchema:
    """The example table with a narrower city column (as an analyst's ALTER might leave it)."""
    example = appsflyer_schema()
    return replace(
        example,
        columns=tuple(
            replace(c, size=width, type_text=f"character varying({width})")
            if c.name == "city"
            else c
            for c in example.columns
        ),
    )


def test_a_record_one_targets_table_refuses_is_a_letter_for_that_target_only(
    world: World,
) -> None:
    # Given a primary whose city column holds 8 bytes and a secondary with the example table
    world.fake.tables = {"c1": narrowed_city(8)}
    event = sqs_event([payload(city="Berlin"), payload(city="Ingolstadt")])
    # When the batch runs
    assert world.run(event, **two_targets()) == []
    # Then the long city is written to the secondary, and dead-lettered for the primary alone
    assert world.landed("c1") == ["msg-00000"]
    assert world.landed("wg2") == ["msg-00000", "msg-00001"]
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "value_too_long"
    assert attributes["failed_targets"]["StringValue"] == "primary"
    assert attributes["reason_detail"]["StringValue"] == (
        "city is 10 bytes in UTF-8; VARCHAR(8) holds 8"
    )


INDEX_OF_CITY = [c.name for c in appsflyer_layout().columns].index("city")


def test_records_are_read_once_per_distinct_table(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real_read = RowReader.read

    def counted(reader: RowReader, decoded: Decoded) -> Row | Rejection:
        reads.append(reader.layout.columns[INDEX_OF_CITY].type_text)
        return real_read(reader, decoded)

    monkeypatch.setattr(RowReader, "read", counted)
    # Given two targets with the same table: each record is read once for both
    world.run(sqs_event([payload()] * 3), **two_targets())
    assert len(reads) == 3
    # Given two targets whose tables differ: each record is read once per table
    reads.clear()
    world.fake.tables = {"c1": narrowed_city(8)}
    world.run(sqs_event([payload()] * 3, prefix="other"), **two_targets())
    assert sorted(reads) == ["character varying(255)"] * 3 + ["character varying(8)"] * 3


def test_a_column_dropped_under_a_batch_is_read_again_and_nothing_is_dead_lettered(
    world: World,
) -> None:
    # Given the example table, from which city is dropped after the function read it: the
    # first INSERT naming city fails as the database would say it
    without_city = replace(
        appsflyer_schema(), columns=tuple(c for c in appsflyer_schema().columns if c.name != "city")
    )
    world.fake.poison = {"Berlin"}
    world.fake.poison_error = 'column "city" of relation "appsflyer_events" does not exist'

    def drop_city(statement: FakeStatement) -> None:
        if statement.status == "FAILED":
            world.fake.table, world.fake.poison = without_city, set()

    world.fake.on_execute = drop_city
    event = sqs_event([payload(city="Berlin"), payload()])
    # When the batch runs
    report = world.report(event)
    # Then the table is read again, every record is written to it, none comes back or is
    # dead-lettered, and the city field is kept in extra
    assert report.returned == ()
    assert world.dead_letters() == []
    assert world.fake.catalog_reads("c1") == 2
    assert world.landed("c1") == ["msg-00000", "msg-00001"]
    last = world.fake.inserts()[-1]
    assert '"city"' not in last.sql
    [berlin] = [r for r in world.fake.written_rows("c1") if r["sqs_message_id"] == "msg-00000"]
    assert json.loads(str(berlin["extra"])) == {"city": "Berlin"}


def test_a_column_narrowed_under_a_batch_judges_records_by_the_table_as_it_is_now(
    world: World,
) -> None:
    # Given city narrowed to 8 bytes after the function read the table: the INSERT fails
    world.fake.poison = {"Ingolstadt"}
    world.fake.poison_error = "value too long for type character varying(8)"

    def narrow(statement: FakeStatement) -> None:
        if statement.status == "FAILED":
            world.fake.table, world.fake.poison = narrowed_city(8), set()

    world.fake.on_execute = narrow
    report = world.report(sqs_event([payload(city="Berlin"), payload(city="Ingolstadt")]))
    # Then the record the new table refuses is a letter with the table's own reason (no
    # bisection blamed the database), and the other is written
    assert report.returned == ()
    assert world.landed("c1") == ["msg-00000"]
    [letter] = world.dead_letters()
    assert letter["MessageAttributes"]["reason"]["StringValue"] == "value_too_long"
    assert report.targets[0].counts.bisection_steps == 0


def test_a_record_the_old_table_refused_is_judged_again_by_the_changed_table(
    world: World,
) -> None:
    # Given a table with an 8-byte city and a dma column: the long city is refused by it
    world.fake.table = narrowed_city(8)
    # And, while the batch runs, city is widened back and dma dropped: the INSERT fails
    example = appsflyer_schema()
    changed = replace(example, columns=tuple(c for c in example.columns if c.name != "dma"))
    world.fake.poison = {"DMA-501"}
    world.fake.poison_error = 'column "dma" of relation "appsflyer_events" does not exist'

    def change(statement: FakeStatement) -> None:
        if statement.status == "FAILED":
            world.fake.table, world.fake.poison = changed, set()

    world.fake.on_execute = change
    report = world.report(sqs_event([payload(city="Ingolstadt"), payload(dma="DMA-501")]))
    # Then both are written to the table as it is now: the refusal was the old table's
    assert report.returned == ()
    assert world.dead_letters() == []
    assert world.landed("c1") == ["msg-00000", "msg-00001"]


def test_a_column_added_is_written_once_the_refresh_interval_has_passed(world: World) -> None:
    # Given one function instance (its tables read at the first batch)
    ingest = world.ingest()

    def process(prefix: str) -> BatchReport:
        event = sqs_event([payload(coupon="SPRING")], prefix=prefix)
        timing = Timing(world.clock, world.clock.sleep)
        return ingest.process(event, deadlines_for(ingest.settings, 120, timing))

    process("first")
    # When an analyst adds a coupon column
    coupon = Column("coupon", ColumnKind.VARCHAR, size=20, type_text="character varying(20)")
    example = appsflyer_schema()
    world.fake.table = replace(example, columns=(*example.columns, coupon))
    # Then batches within SCHEMA_REFRESH_SECONDS still keep the field in extra
    process("second")
    assert world.fake.catalog_reads() == 1
    assert '"coupon"' not in world.fake.inserts()[-1].sql
    # And once the interval has passed the table is read again and the column written
    world.clock.sleep(ingest.settings.schema_refresh_seconds)
    process("third")
    assert world.fake.catalog_reads() == 2
    [third] = [r for r in world.fake.written_rows("c1") if r["sqs_message_id"] == "third-00000"]
    assert third["coupon"] == "SPRING"
    assert "extra" not in third  # nothing left over: the INSERT does not even name it


def test_a_not_null_column_the_function_cannot_write_fails_naming_it(world: World) -> None:
    # Given a table with a NOT NULL column of a type the function cannot write
    shape = Column("shape", ColumnKind.UNSUPPORTED, not_null=True, type_text="geometry")
    example = appsflyer_schema()
    world.fake.table = replace(example, columns=(*example.columns, shape))
    # Then the batch fails (a misconfiguration, before any row), naming table, column and type
    with pytest.raises(SchemaError) as raised:
        world.run(sqs_event([payload()]))
    assert "table public.appsflyer_events in target primary" in str(raised.value)
    assert "column shape has type geometry" in str(raised.value)
    assert world.fake.inserts() == []
    assert world.dead_letters() == []


def test_a_nullable_column_the_function_cannot_write_is_left_out(world: World) -> None:
    shape = Column("shape", ColumnKind.UNSUPPORTED, type_text="geometry")
    example = appsflyer_schema()
    world.fake.table = replace(example, columns=(*example.columns, shape))
    assert world.run(sqs_event([payload(shape="POINT(1 2)")])) == []
    assert world.landed("c1") == ["msg-00000"]
    assert '"shape"' not in world.fake.inserts()[0].sql


def test_a_target_whose_table_cannot_be_read_gets_its_records_back(world: World) -> None:
    # Given a database user that may not read the catalog (nor anything else)
    world.fake.fail_all_error = "permission denied for relation pg_attribute"
    # When the batch runs, nothing is written or dead-lettered: every record comes back
    with pytest.raises(NothingProgressed) as raised:
        world.run(sqs_event([payload(), payload()]))
    assert raised.value.report.returned == ("msg-00000", "msg-00001")
    assert world.fake.inserts() == []
    assert world.dead_letters() == []


# ---- a table other than AppsFlyer, by configuration alone --------------------------------------


def orders_world(world: World) -> dict[str, Any]:
    world.fake.table = ORDERS
    return {"table": ORDERS_TABLE, "roles": ORDER_ROLES}


def test_another_table_is_written_with_configuration_only(world: World) -> None:
    # Given an orders table (no overflow column) and the roles that name its columns
    settings = orders_world(world)
    bodies = [
        {"order_id": "o-1", "quantity": 2, "total": "19.90", "coupon": "SPRING"},
        {"order_id": "o-2", "quantity": 40000},  # beyond SMALLINT
        {"order_id": "o-3", "gift": True, "paid_at": "2024-05-01T14:34:56+02:00"},
    ]
    # When the batch runs
    report = world.report(sqs_event(bodies), **settings)
    # Then the good orders land in their columns, the bad one is dead-lettered with its reason
    assert report.returned == ()
    rows = {r["message_id"]: r for r in world.fake.written_rows("c1")}
    assert sorted(str(m) for m in rows) == ["msg-00000", "msg-00002"]
    assert (rows["msg-00000"]["order_id"], rows["msg-00000"]["total"]) == ("o-1", "19.90")
    assert rows["msg-00002"]["paid_at"] == "2024-05-01 14:34:56+02:00"
    [letter] = world.dead_letters()
    assert letter["MessageAttributes"]["reason"]["StringValue"] == "invalid_number"
    # And the field the table has no column for is counted, not kept
    assert report.targets[0].counts.dropped_fields == 1


def test_a_redelivered_order_is_found_held_by_its_own_message_id_column(world: World) -> None:
    settings = orders_world(world)
    bodies = [{"order_id": "o-1"}, {"order_id": "o-2"}]
    world.run(sqs_event(bodies), **settings)
    report = world.report(sqs_event(bodies, receive_count=2), **settings)
    assert report.returned == ()
    assert report.targets[0].already_held == frozenset({"msg-00000", "msg-00001"})
    assert len(world.fake.written_rows("c1")) == 2  # once, not twice


# ---- found by the session-3 hostile review (fixes in catalog.py, batch.py, row_reader.py) ----

DROPPED = 'relation "public.appsflyer_events" does not exist'


def test_a_table_dropped_after_cold_start_returns_the_records_instead_of_failing_the_batch(
    world: World,
) -> None:
    # Given a table the function has read, dropped while a batch is being written
    world.fake.poison = {"Berlin"}
    world.fake.poison_error = DROPPED

    def drop_table(statement: FakeStatement) -> None:
        if statement.status == "FAILED":
            world.fake.table = TableSchema("public.appsflyer_events", ())

    world.fake.on_execute = drop_table
    # When the batch runs
    with pytest.raises(NothingProgressed) as stuck:
        world.report(sqs_event([payload(city="Berlin"), payload()]))
    # Then its records come back for a retry: the handler publishes the report's metrics and
    # raises its own short error so that Lambda backs off; no SchemaError escapes
    assert stuck.value.report.returned == ("msg-00000", "msg-00001")


def test_a_secondary_table_dropped_does_not_hold_back_the_primary(world: World) -> None:
    # Given two targets, the secondary's table dropped under the batch
    world.fake.poison_error = DROPPED
    create = world.fake._create

    def poison_the_secondary(
        target: str, sqls: tuple[str, ...], request: Any, *, batch: bool
    ) -> FakeStatement:
        world.fake.poison = {"Berlin"} if target == "wg2" else set()
        return create(target, sqls, request, batch=batch)

    def drop_secondary(statement: FakeStatement) -> None:
        if statement.status == "FAILED" and statement.target == "wg2":
            world.fake.tables = {"wg2": TableSchema("public.appsflyer_events", ())}

    world.fake._create = poison_the_secondary  # type: ignore[method-assign]
    world.fake.on_execute = drop_secondary
    # When the batch runs
    report = world.report(sqs_event([payload(city="Berlin")]), targets=(PRIMARY, SECONDARY))
    # Then the primary holds the record and it comes back for the secondary alone
    assert report.returned == ("msg-00000",)
    assert [len(t.written) for t in report.targets] == [1, 0]


def _deep_city(depth: int) -> dict[str, Any]:
    body = (
        '{"appsflyer_id":"x","event_name":"e","event_time":"2024-01-01 00:00:00","city":'
        + "[" * depth
        + "]" * depth
        + "}"
    )
    event = sqs_event([{}])
    event["Records"][0]["body"] = body
    return event


def test_a_value_nested_nearly_as_deep_as_decoding_allows_is_a_letter_never_a_crash(
    world: World,
) -> None:
    # Given bodies whose text column holds arrays nested just below the decoder's limit (a
    # band of depths decodes but cannot be written back as text a few frames deeper)
    limit = sys.getrecursionlimit()
    try:
        for depth in range(3440, 3500):
            sys.setrecursionlimit(1000)  # as at a cold start
            # When each is processed, Then it is written or dead-lettered: nothing raises
            report = world.report(_deep_city(depth))
            assert report.received == 1
    finally:
        sys.setrecursionlimit(limit)


def test_a_steady_trickle_of_bad_records_does_not_cost_a_catalog_read_per_batch(
    world: World,
) -> None:
    # Given one record per batch that the table refuses, ten batches a second apart
    ingest = world.ingest()
    for n in range(10):
        event = sqs_event([payload(city="x" * 300), payload()], prefix=f"b{n}")
        ingest.process(
            event, deadlines_for(ingest.settings, 120, Timing(world.clock, world.clock.sleep))
        )
        world.clock.sleep(1.0)
    # Then the table is read at cold start and at most once more (RECHECK_SECONDS)
    assert world.fake.catalog_reads("c1") <= 2


def _kept(outcome: Row, layout: TableLayout) -> set[str]:
    kept: set[str] = set()
    for index, value in enumerate(outcome.values):
        if isinstance(value, str):
            kept.add(value)
            if index == layout.overflow_index:
                kept.update(str(v) for v in json.loads(value).values())
    return kept


@pytest.mark.parametrize(
    "fields",
    [
        {"city": "OWN", "ORDERREF": "PATH"},
        {"ORDERREF": "PATH", "city": "OWN"},
        {"orderref": "PATH", "city": "OWN"},
        {"city": "OWN", "orderref": "PATH"},
    ],
)
def test_a_mapped_path_sent_in_another_case_beside_the_columns_own_field_loses_nothing(
    fields: dict[str, str],
) -> None:
    # Given city mapped from orderRef, and a record carrying city and orderRef in another case
    roles = Roles(field_mapping=((("orderRef",), "city"),))
    layout = build_layout(appsflyer_schema(), roles, "primary")
    body = {"appsflyer_id": "a", "event_name": "e", "event_time": "2024-01-01 00:00:00", **fields}
    # When it is read, Then it is refused as ambiguous, or keeps both values
    outcome = read(body, layout=layout)
    if isinstance(outcome, Rejection):
        assert outcome.reason.value == "ambiguous_field"
    else:
        assert {"OWN", "PATH"} <= _kept(outcome, layout)


def test_redrive_naming_a_record_of_the_same_user_and_event_is_not_taken_as_held(
    world: World,
) -> None:
    """Identity columns alike (appsflyer_id, event_name), other values not: the row held is
    another purchase, so this one is dead-lettered, never acknowledged (issue 18)."""
    world.run(sqs_event([payload(event_name="af_purchase", city="Lyon")]), **two_targets())
    forged = redriven(
        payload(event_name="af_purchase", city="Oslo"), "forged", "msg-00000", "primary,secondary"
    )
    report = world.report(forged, **two_targets())
    assert report.returned == ()
    [letter] = world.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "invalid_redrive"
    assert world.landed("c1") == ["msg-00000"]


def test_redrive_of_the_record_itself_is_held_in_every_value(world: World) -> None:
    body = payload(event_name="af_purchase", city="Lyon")
    world.run(sqs_event([body]), **two_targets())
    again = redriven(body, "again", "msg-00000", "primary,secondary")
    report = world.report(again, **two_targets())
    assert report.returned == ()
    assert world.dead_letters() == []
    assert all(t.already_held for t in report.targets)
    assert world.landed("c1") == ["msg-00000"]
