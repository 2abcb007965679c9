"""The Data API wrapper: error mapping, failure classification, waiting, deadline cancellation."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from ingest.config import Target
from ingest.deadline import Deadline
from ingest.records import Row, SqsMessage, validate
from ingest.redshift import (
    DataApi,
    FailureKind,
    QuotaExceeded,
    StatementRejected,
    TargetMisconfigured,
    Throttled,
    TransientError,
    _supports_wait,
    classify_failure,
    map_client_error,
)
from ingest.sql import Statement, render_inserts
from tests.support import payload
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

TARGET = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")


def statement(count: int = 3) -> Statement:
    rows = []
    for i in range(count):
        row = validate(SqsMessage(f"m-{i}", json.dumps(payload()), 1))
        assert isinstance(row, Row)
        rows.append(row)
    return render_inserts("public.t", rows, max_bytes=100_000, max_parameters=32_767).statements[0]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("ERROR: value too long for type character varying(10)", FailureKind.DATA),
        ('invalid input syntax for type timestamp: "x"', FailureKind.DATA),
        ("Numeric data overflow (result precision)", FailureKind.DATA),
        ("Invalid JSON: unexpected character", FailureKind.DATA),
        ("new row violates check constraint", FailureKind.DATA),
        ("ERROR: 1023 DETAIL: Serializable isolation violation on table", FailureKind.TRANSIENT),
        ("terminating connection due to administrator command", FailureKind.TRANSIENT),
        ('relation "public.appsflyer_events" does not exist', FailureKind.CONFIGURATION),
        ("permission denied for relation appsflyer_events", FailureKind.CONFIGURATION),
        ('column "new_col" does not exist', FailureKind.CONFIGURATION),
    ],
)
def test_classify_failure(error: str, kind: FailureKind) -> None:
    assert classify_failure(error) is kind


@pytest.mark.parametrize(
    ("code", "message", "domain"),
    [
        ("ActiveStatementsExceededException", "why", QuotaExceeded),
        ("ThrottlingException", "why", Throttled),
        ("InternalServerException", "why", TransientError),
        ("ValidationException", "Cannot process query string larger than 100kB", StatementRejected),
        ("ValidationException", "Too many parameters", StatementRejected),
        (
            "ValidationException",
            "Redshift endpoint doesn't exist in this region.",
            TargetMisconfigured,
        ),
        ("ResourceNotFoundException", "why", TargetMisconfigured),
        ("AccessDeniedException", "why", TargetMisconfigured),
    ],
)
def test_map_client_error(code: str, message: str, domain: type[Exception]) -> None:
    mapped = map_client_error(client_error(code, message))
    assert type(mapped) is domain
    assert message in str(mapped)


def test_connection_failures_are_transient() -> None:
    assert isinstance(map_client_error(EndpointConnectionError(endpoint_url="x")), TransientError)


def test_the_shipped_botocore_knows_wait_time_seconds() -> None:
    client = boto3.client("redshift-data", region_name="us-east-1")
    assert _supports_wait(client)


def make_api(fake: FakeDataApi, clock: FakeClock, *, supports_wait: bool = True) -> DataApi:
    return DataApi(fake, supports_wait=supports_wait, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize("supports_wait", [True, False])
def test_execute_finishes_with_or_without_wait_time(supports_wait: bool) -> None:
    fake, clock = FakeDataApi(), FakeClock()
    api = make_api(fake, clock, supports_wait=supports_wait)
    outcome = api.execute(TARGET, statement(), "token-1", Deadline.after(60, clock))
    assert outcome.status == "FINISHED"
    assert fake.calls.count("DescribeStatement") == (0 if supports_wait else 1)


def test_request_carries_target_addressing_and_parameters() -> None:
    seen = {}
    fake, clock = FakeDataApi(), FakeClock()
    original = fake.execute_statement

    def spy(**request: object) -> dict[str, object]:
        seen.update(request)
        return original(**request)

    fake.execute_statement = spy  # type: ignore[method-assign]
    make_api(fake, clock).execute(TARGET, statement(), "token-1", Deadline.after(12.5, clock))
    assert seen["ClusterIdentifier"] == "c1"
    assert seen["DbUser"] == "ingest"
    assert seen["Database"] == "dev"
    assert seen["ClientToken"] == "token-1"
    assert seen["WaitTimeSeconds"] == 12  # never longer than the time left
    assert isinstance(seen["Parameters"], list)


def test_failed_statement_reports_the_database_error() -> None:
    fake, clock = (
        FakeDataApi(fail_all_error="value too long for type character varying(10)"),
        FakeClock(),
    )
    outcome = make_api(fake, clock).execute(TARGET, statement(), "t", Deadline.after(60, clock))
    assert outcome.status == "FAILED"
    assert outcome.error == "value too long for type character varying(10)"


def test_submit_errors_become_domain_errors() -> None:
    fake = FakeDataApi(submit_errors={"*": [client_error("ActiveStatementsExceededException")]})
    clock = FakeClock()
    with pytest.raises(QuotaExceeded):
        make_api(fake, clock).execute(TARGET, statement(), "t", Deadline.after(60, clock))


def test_hanging_statement_is_cancelled_at_the_deadline() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    deadline = Deadline.after(10, clock)
    outcome = make_api(fake, clock).execute(TARGET, statement(), "t", deadline)
    assert outcome.status == "ABORTED"
    assert outcome.cancelled
    assert "CancelStatement" in fake.calls
    assert clock() >= deadline.expires_at  # it waited up to the deadline, not beyond needs
    assert fake.active["c1"] == 0


def test_cancel_that_loses_the_race_counts_the_rows_as_written() -> None:
    fake, clock = FakeDataApi(hang_next=1, cancel_loses_race=True), FakeClock()
    outcome = make_api(fake, clock).execute(TARGET, statement(), "t", Deadline.after(5, clock))
    assert outcome.status == "FINISHED"
    assert outcome.cancelled


@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_describe_errors_after_submit_never_refuse_the_rows(code: str) -> None:
    # Given a statement that was accepted (and may commit) but cannot be described
    fake, clock = FakeDataApi(hang_next=1), FakeClock()

    def denied(Id: str) -> dict[str, object]:
        raise client_error(code, "not allowed", "DescribeStatement")

    fake.describe_statement = denied  # type: ignore[method-assign]
    deadline = Deadline.after(10, clock)
    outcome = make_api(fake, clock, supports_wait=False).execute(TARGET, statement(), "t", deadline)
    # Then it is cancelled at the deadline and reported UNKNOWN, not refused or misconfigured
    assert outcome.status == "UNKNOWN"
    assert outcome.cancelled
    assert "CancelStatement" in fake.calls


def test_cancel_stays_within_its_grace_period() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    fake.cancel_statement = lambda Id: {"Status": True}  # type: ignore[method-assign]
    api = DataApi(
        fake,  # type: ignore[arg-type]
        supports_wait=True,
        cancel_grace_seconds=2.0,
        sleep=clock.sleep,
        clock=clock,
    )
    deadline = Deadline.after(5, clock)
    outcome = api.execute(TARGET, statement(), "t", deadline)
    assert outcome.status == "UNKNOWN"
    assert clock() <= deadline.expires_at + 2.0


def test_polling_backs_off_and_survives_transient_describe_errors() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    original = fake.describe_statement
    failures = iter([True, True, False])

    def flaky(Id: str) -> dict[str, object]:
        if next(failures, False):
            raise client_error("InternalServerException", operation="DescribeStatement")
        fake.statements[0].status = "FINISHED"
        return original(Id)

    fake.describe_statement = flaky  # type: ignore[method-assign]
    outcome = make_api(fake, clock, supports_wait=False).execute(
        TARGET, statement(), "t", Deadline.after(60, clock)
    )
    assert outcome.status == "FINISHED"
