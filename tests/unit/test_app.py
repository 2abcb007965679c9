"""The Lambda entry point: response shape, EMF metrics, logs without payload values."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

import app
from ingest.batch import BatchIngest
from ingest.config import ConfigError, Settings, Target
from ingest.layout import SchemaError
from ingest.schema import Column, ColumnKind
from ingest.telemetry import MetricName
from ingest.wiring import Clients, Timing, build_ingest
from local.appsflyer import appsflyer_layout, appsflyer_schema
from local.lambda_context import LambdaContextStub
from tests.support import payload, sqs_event
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

SECRET_IDFA = "AAAAAAAA-SECRET-IDFA-0000-000000000001"
SECRET_IP = "198.51.100.23"


@pytest.fixture
def fake() -> Iterator[FakeDataApi]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        settings = Settings(
            targets=(Target("primary", "dev", cluster_identifier="c1", db_user="u"),),
            table="public.appsflyer_events",
            dead_letter_queue_url=dlq,
        )
        data_api = FakeDataApi()
        clients = Clients(data_api, data_api, sqs)
        ingest = build_ingest(settings, clients, Timing(sleep=lambda _: None, seed=3))
        original = app.ingest
        app.metrics.provider.namespace = app.DEFAULT_METRICS_NAMESPACE
        app.metrics.provider.service = app.DEFAULT_SERVICE
        app.ingest = lambda: ingest  # type: ignore[assignment]
        try:
            yield data_api
        finally:
            app.ingest = original


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the Powertools logger writes (its handler holds the stdout of import time)."""
    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def emf_blobs(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


def test_response_lists_exactly_the_records_to_retry(fake: FakeDataApi) -> None:
    fake.poison = {"POISON"}
    bodies = [payload(), "{oops", payload(city="POISON"), payload()]
    response = app.lambda_handler(sqs_event(bodies), LambdaContextStub())
    assert response == {"batchItemFailures": []}


def test_every_metric_is_emitted_with_its_dimensions(
    fake: FakeDataApi, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.poison = {"POISON"}
    bodies = [payload(), "{oops", payload(city="POISON"), payload()]
    app.lambda_handler(sqs_event(bodies), LambdaContextStub())
    emitted: dict[str, set[tuple[str, ...]]] = {}
    for blob in emf_blobs(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dimensions = tuple(sorted(directive["Dimensions"][0]))
            for metric in directive["Metrics"]:
                emitted.setdefault(metric["Name"], set()).add(dimensions)
    assert set(emitted) == {m.value for m in MetricName}
    assert emitted[MetricName.ROWS_WRITTEN] == {("Target", "service")}
    assert emitted[MetricName.RECORDS_DEAD_LETTERED] == {("Reason", "service")}
    assert emitted[MetricName.RECORDS_RECEIVED] == {("service",)}
    assert emitted[MetricName.RECORDS_RETURNED] == {("service",), ("Target", "service")}


def test_a_one_target_outage_shows_as_that_targets_returned_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A secondary that refuses everything while the primary writes: the batch's records come
    back, and only the secondary's RecordsReturned says so (the alarm's series)."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        settings = Settings(
            targets=(
                Target("primary", "dev", cluster_identifier="c1", db_user="u"),
                Target("secondary", "dev", cluster_identifier="c2", db_user="u"),
            ),
            table="public.appsflyer_events",
            dead_letter_queue_url=dlq,
        )
        data_api = FakeDataApi()
        outage = [client_error("InternalServerException") for _ in range(100)]
        data_api.submit_errors = {"c2": outage}
        ingest = build_ingest(
            settings,
            Clients(data_api, data_api, sqs),
            Timing(sleep=lambda _: None, seed=3),
        )
        original = app.ingest
        app.ingest = lambda: ingest  # type: ignore[assignment]
        try:
            response = app.lambda_handler(sqs_event([payload(), payload()]), LambdaContextStub())
        finally:
            app.ingest = original
    assert len(response["batchItemFailures"]) == 2
    returned: dict[str | None, list[float]] = {}
    for blob in emf_blobs(capsys.readouterr().out):
        if MetricName.RECORDS_RETURNED in blob:
            returned[blob.get("Target")] = blob[MetricName.RECORDS_RETURNED]
    assert returned == {None: [2.0], "primary": [0.0], "secondary": [2.0]}


def test_logs_carry_ids_and_reasons_never_payload_values(
    fake: FakeDataApi, capsys: pytest.CaptureFixture[str], log_output: io.StringIO
) -> None:
    fake.poison = {SECRET_IP}
    fake.poison_error = f'invalid input syntax for type inet: "{SECRET_IP}"'
    bodies = [payload(idfa=SECRET_IDFA), payload(ip=SECRET_IP), payload(wifi="maybe", ip=SECRET_IP)]
    app.lambda_handler(sqs_event(bodies), LambdaContextStub())
    output = capsys.readouterr().out + log_output.getvalue()
    assert SECRET_IDFA not in output
    assert SECRET_IP not in output
    records = [json.loads(line) for line in output.splitlines() if '"message"' in line]
    failures = [r for r in records if r["message"] == "record not written"]
    assert {f["message_id"] for f in failures} == {"msg-00001", "msg-00002"}
    assert all(f["outcome"] == "dead_lettered" for f in failures)
    [summary] = [r for r in records if r["message"] == "batch processed"]
    assert summary["records_received"] == 3
    assert summary["rows_written"] == {"primary": 1}
    assert summary["dead_lettered_by_reason"] == {"rejected_by_database": 1, "invalid_boolean": 1}


def test_batch_that_cannot_progress_raises_a_short_value_free_error(fake: FakeDataApi) -> None:
    fake.poison = {SECRET_IP}
    fake.poison_error = f'internal error: "{SECRET_IP}"'
    with pytest.raises(app.BatchNotProcessed) as raised:
        app.lambda_handler(sqs_event([payload(ip=SECRET_IP)]), LambdaContextStub())
    # What Lambda logs is the exception's text and its chain: neither carries a value.
    assert str(raised.value) == "none of 1 records could be written or dead-lettered"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_remaining_time_below_the_margin_submits_nothing(fake: FakeDataApi) -> None:
    with pytest.raises(app.BatchNotProcessed):
        app.lambda_handler(sqs_event([payload()]), LambdaContextStub(remaining_ms=3_000))
    assert fake.statements == []


@pytest.mark.parametrize("event", [{"Records": None}, {"Records": "x"}, {}])
def test_an_event_sqs_never_sends_fails_with_what_is_wrong(
    fake: FakeDataApi, event: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="Records"):
        app.lambda_handler(event, LambdaContextStub())
    assert fake.statements == []


def test_misconfiguration_fails_the_cold_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDSHIFT_TARGETS", raising=False)
    app.ingest.cache_clear()
    try:
        with pytest.raises(ConfigError, match="REDSHIFT_TARGETS"):
            app.lambda_handler(sqs_event([payload()]), LambdaContextStub())
    finally:
        app.ingest.cache_clear()


# ---- any table: what the handler says about each target's table --------------------------------


@pytest.fixture
def cold_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeDataApi, FakeClock]]:
    """The handler's own cold start (settings from the environment, its on_table_change),
    with the Data API and SQS clients swapped for doubles."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        target = {"name": "primary", "database": "dev", "cluster_identifier": "c1", "db_user": "u"}
        monkeypatch.setenv("REDSHIFT_TARGETS", json.dumps([target]))
        monkeypatch.setenv("TARGET_TABLE", "public.appsflyer_events")
        monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq)
        data_api, clock = FakeDataApi(), FakeClock()

        def with_doubles(settings: Settings, **wiring: Any) -> BatchIngest:
            clients = Clients(data_api, data_api, sqs)
            return build_ingest(settings, clients, Timing(clock, clock.sleep, seed=3), **wiring)

        monkeypatch.setattr(app, "build_ingest", with_doubles)
        app.ingest.cache_clear()
        try:
            yield data_api, clock
        finally:
            app.ingest.cache_clear()


def log_lines(output: str, message: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if '"message"' in line]
    return [r for r in records if r["message"] == message]


def test_each_targets_table_is_logged_when_first_read_and_when_it_changes(
    cold_start: tuple[FakeDataApi, FakeClock],
    capsys: pytest.CaptureFixture[str],
    log_output: io.StringIO,
) -> None:
    data_api, clock = cold_start
    # Given a table with a nullable column the function cannot write
    shape = Column("shape", ColumnKind.UNSUPPORTED, type_text="geometry")
    example = appsflyer_schema()
    data_api.table = replace(example, columns=(*example.columns, shape))
    # When the first batch reads it
    app.lambda_handler(sqs_event([payload()]), LambdaContextStub())
    # Then one line says what the function writes there, and which column it leaves out
    [read] = log_lines(capsys.readouterr().out + log_output.getvalue(), "target table read")
    assert read["target"] == "primary"
    assert read["table"] == "public.appsflyer_events"
    assert read["columns"] == len(appsflyer_layout().columns)
    assert read["overflow_column"] == "extra"
    assert read["skipped_columns"] == ["shape geometry"]
    # When a column is added and the refresh interval passes
    coupon = Column("coupon", ColumnKind.VARCHAR, size=20, type_text="character varying(20)")
    data_api.table = replace(data_api.table, columns=(*data_api.table.columns, coupon))
    clock.sleep(app.ingest().settings.schema_refresh_seconds)
    app.lambda_handler(sqs_event([payload()], prefix="later"), LambdaContextStub())
    # Then one line names what changed
    output = capsys.readouterr().out + log_output.getvalue()
    [changed] = log_lines(output, "target table changed")
    assert (changed["added"], changed["removed"], changed["retyped"]) == (["coupon"], [], [])
    assert not log_lines(output, "target table read")[1:]  # the first read is not logged again


def test_fields_dropped_and_transactions_committed_are_counted_per_target(
    cold_start: tuple[FakeDataApi, FakeClock],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a table without an overflow column
    monkeypatch.setenv("OVERFLOW_COLUMN", "none")
    bodies = [payload(af_new_field="x", af_other="y"), payload(af_new_field="z")]
    app.lambda_handler(sqs_event(bodies), LambdaContextStub())
    values: dict[str, list[float]] = {}
    for blob in emf_blobs(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values[metric["Name"]] = value if isinstance(value, list) else [value]
    # Then the three fields with nowhere to go are counted, and one transaction committed
    assert values[MetricName.FIELDS_DROPPED] == [3]
    assert values[MetricName.TRANSACTIONS_COMMITTED] == [1]
    assert values[MetricName.ROWS_WRITTEN] == [2]


def test_a_table_the_function_cannot_write_fails_the_invocation_naming_it(
    cold_start: tuple[FakeDataApi, FakeClock],
) -> None:
    data_api, _ = cold_start
    shape = Column("shape", ColumnKind.UNSUPPORTED, not_null=True, type_text="geometry")
    example = appsflyer_schema()
    data_api.table = replace(example, columns=(*example.columns, shape))
    with pytest.raises(SchemaError, match="column shape has type geometry"):
        app.lambda_handler(sqs_event([payload()]), LambdaContextStub())
    assert data_api.inserts() == []
