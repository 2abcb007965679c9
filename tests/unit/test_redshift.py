"""The Data API wrapper: error mapping, failure classification, waiting, deadline cancellation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Unpack, cast

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from ingest.config import Target
from ingest.deadline import Deadline, Deadlines
from ingest.failure_text import FailureKind, classify_failure
from ingest.ports import (
    CancelStatementReply,
    DescribeStatementReply,
    ExecuteStatementReply,
    ExecuteStatementRequest,
)
from ingest.redshift import (
    AmbiguousSubmit,
    CallTimes,
    DataApi,
    QuotaExceeded,
    StatementOutcome,
    StatementRejected,
    StatementStatus,
    StatementUnconfirmed,
    Submitted,
    TargetMisconfigured,
    Throttled,
    TransientError,
    map_client_error,
    require_current_sdk,
)
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

TARGET = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("ERROR: value too long for type character varying(10)", FailureKind.DATA),
        ('invalid input syntax for type timestamp: "x"', FailureKind.DATA),
        ("Numeric data overflow (result precision)", FailureKind.DATA),
        ("Invalid JSON: unexpected character", FailureKind.DATA),
        ('null value in column "event_name" violates not-null constraint', FailureKind.DATA),
        # Words about values later in a statement-level error do not make it the rows' fault.
        ("Assert: value out of range while planning", FailureKind.TRANSIENT),
        ("XX000: internal error in malformed buffer", FailureKind.TRANSIENT),
        ("permission denied: value too long to log", FailureKind.CONFIGURATION),
        ("ERROR: 1023 DETAIL: Serializable isolation violation on table", FailureKind.TRANSIENT),
        ("terminating connection due to administrator command", FailureKind.COMMIT_UNKNOWN),
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
        ("InternalServerException", "why", AmbiguousSubmit),
        ("ExecuteStatementException", "why", AmbiguousSubmit),
        ("DatabaseConnectionException", "why", TransientError),
        ("ActiveSessionsExceededException", "why", TransientError),
        ("ValidationException", "Cannot process query string larger than 100kB", StatementRejected),
        ("ValidationException", "Too many parameters", StatementRejected),
        # Wordings nobody published are tried smaller (the probe shows when size is not it).
        ("ValidationException", "Invalid parameter name: bad-name", StatementRejected),
        ("ValidationException", "Request size exceeds the limit", StatementRejected),
        ("413", "Request Entity Too Large", StatementRejected),
        ("RequestEntityTooLargeException", "Request must be smaller", StatementRejected),
        (
            "ValidationException",
            "Either ClusterIdentifier or WorkgroupName needs to be specified.",
            TargetMisconfigured,
        ),
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
    mapped = map_client_error(EndpointConnectionError(endpoint_url="x"))
    assert type(mapped) is TransientError  # never reached the service: not ambiguous


def test_a_read_timeout_is_an_ambiguous_submit() -> None:
    assert isinstance(map_client_error(ReadTimeoutError(endpoint_url="x")), AmbiguousSubmit)


def test_execute_statement_exception_names_its_statement() -> None:
    error = client_error("ExecuteStatementException", "environmental error")
    cast(Any, error.response)["StatementId"] = "stmt-9"  # a modeled field, as botocore parses it
    mapped = map_client_error(error)
    assert isinstance(mapped, AmbiguousSubmit)
    assert mapped.statement_id == "stmt-9"


def test_the_shipped_botocore_knows_every_request_member_the_function_sends() -> None:
    require_current_sdk(boto3.client("redshift-data", region_name="us-east-1"))


@pytest.mark.parametrize(
    ("operation", "member"),
    [
        ("BatchExecuteStatement", "Parameters"),
        ("BatchExecuteStatement", "ExecutionMode"),
        ("BatchExecuteStatement", "WaitTimeSeconds"),
        ("ExecuteStatement", "WaitTimeSeconds"),
    ],
)
def test_an_sdk_without_a_member_the_function_sends_fails_the_cold_start_naming_it(
    operation: str, member: str
) -> None:
    # Given a client whose model lacks one member (as an older botocore's did)
    client = boto3.client("redshift-data", region_name="us-east-1")
    shape = client.meta.service_model.operation_model(operation).input_shape
    assert shape is not None
    members = {name: kind for name, kind in shape.members.items() if name != member}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(vars(shape), "members", members)  # where botocore caches them
        # Then the check refuses it, naming the operation and the member
        with pytest.raises(RuntimeError) as refused:
            require_current_sdk(client)
    assert f"does not know {operation}.{member}:" in str(refused.value)


def make_api(fake: FakeDataApi, clock: FakeClock) -> DataApi:
    return DataApi(
        fake,
        call_times=CallTimes(submit=25.0, control=4.0),
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: 1.7e9 + clock(),
    )


def phases(clock: FakeClock, work: float, cleanup: float = 10.0) -> Deadlines:
    start = Deadline.after(work, clock)
    return Deadlines(start, start.earlier_by(-cleanup), start.earlier_by(-cleanup - 5))


def run(
    api: DataApi, deadlines: Deadlines, sql: str | Sequence[str] = "INSERT INTO t VALUES (:p0)"
) -> StatementOutcome:
    submitted = api.submit(
        TARGET,
        sql,
        [("p0", "v")],
        name=api.statement_name(TARGET, deadlines),
        client_token="token-1",
        deadlines=deadlines,
    )
    return api.await_outcome(submitted.statement_id, deadlines, status=submitted.status)


@pytest.mark.parametrize("answer_with_status", [True, False])
def test_execute_finishes_whether_or_not_the_submit_answers_with_its_status(
    answer_with_status: bool,
) -> None:
    fake, clock = FakeDataApi(answer_with_status=answer_with_status), FakeClock()
    outcome = run(make_api(fake, clock), phases(clock, 60))
    assert outcome.status is StatementStatus.FINISHED
    assert fake.calls.count("DescribeStatement") == (0 if answer_with_status else 1)


def test_request_carries_addressing_parameters_token_and_a_findable_name() -> None:
    seen: dict[str, object] = {}
    fake, clock = FakeDataApi(), FakeClock()
    original = fake.execute_statement

    def spy(**request: Unpack[ExecuteStatementRequest]) -> ExecuteStatementReply:
        seen.update(request)
        return original(**request)

    fake.execute_statement = spy  # type: ignore[method-assign]
    run(make_api(fake, clock), phases(clock, 30.5))
    assert seen["ClusterIdentifier"] == "c1"
    assert seen["DbUser"] == "ingest"
    assert seen["Database"] == "dev"
    assert seen["ClientToken"] == "token-1"
    assert seen["WaitTimeSeconds"] == 20
    assert seen["Parameters"] == [{"name": "p0", "value": "v"}]
    name = str(seen["StatementName"])
    prefix, target, ends, _ = name.split("/")
    assert (prefix, target) == ("sqs-redshift-ingest", "primary")
    assert int(ends) == int(1.7e9 + 1000 + 30.5 + 15) + 1  # when its owner gives up on it


def test_no_wait_on_the_slow_client_when_its_timeout_could_pass_the_deadline() -> None:
    seen: dict[str, object] = {}
    fake, clock = FakeDataApi(), FakeClock()
    original = fake.execute_statement

    def spy(**request: Unpack[ExecuteStatementRequest]) -> ExecuteStatementReply:
        seen.update(request)
        return original(**request)

    fake.execute_statement = spy  # type: ignore[method-assign]
    run(make_api(fake, clock), phases(clock, 20))  # the submit client may take 25 s
    assert "WaitTimeSeconds" not in seen


def test_failed_statement_reports_the_database_error() -> None:
    fake, clock = (
        FakeDataApi(fail_all_error="value too long for type character varying(10)"),
        FakeClock(),
    )
    outcome = run(make_api(fake, clock), phases(clock, 60))
    assert outcome.status is StatementStatus.FAILED
    assert outcome.error == "value too long for type character varying(10)"


def test_submit_errors_become_domain_errors() -> None:
    fake = FakeDataApi(submit_errors={"*": [client_error("ActiveStatementsExceededException")]})
    clock = FakeClock()
    with pytest.raises(QuotaExceeded):
        run(make_api(fake, clock), phases(clock, 60))


def test_hanging_statement_is_cancelled_at_the_work_deadline() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    deadlines = phases(clock, 10)
    outcome = run(make_api(fake, clock), deadlines)
    assert outcome.status is StatementStatus.ABORTED
    assert outcome.cancelled
    # It waited until one more describe could pass the work deadline, then cancelled.
    assert clock() >= deadlines.work.expires_at - 4.0
    assert clock() <= deadlines.cleanup.expires_at
    assert fake.active["c1"] == 0


def test_cancel_that_loses_the_race_counts_the_rows_as_written() -> None:
    fake, clock = FakeDataApi(hang_next=1, cancel_loses_race=True), FakeClock()
    outcome = run(make_api(fake, clock), phases(clock, 5))
    assert outcome.status is StatementStatus.FINISHED
    assert outcome.cancelled


@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_describe_errors_after_submit_never_refuse_the_rows(code: str) -> None:
    # Given a statement that was accepted (and may commit) but can never be described
    fake, clock = FakeDataApi(hang_next=1, answer_with_status=False), FakeClock()
    fake.describe_errors = [client_error(code, "not allowed", "DescribeStatement")] * 1000
    # Then it is cancelled and, its end unconfirmed, reported as such: never refused
    with pytest.raises(StatementUnconfirmed):
        run(make_api(fake, clock), phases(clock, 10))
    assert "CancelStatement" in fake.calls


def test_cancel_confirmation_never_passes_the_cleanup_deadline() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()

    def cancel_accepted(*, Id: str) -> CancelStatementReply:
        return {"Status": True}  # yet the statement runs on

    fake.cancel_statement = cancel_accepted  # type: ignore[method-assign]
    deadlines = phases(clock, 5, cleanup=3)
    with pytest.raises(StatementUnconfirmed):
        run(make_api(fake, clock), deadlines)
    # No control call (4 s at worst) was started that could end after the cleanup deadline.
    assert clock() <= deadlines.cleanup.expires_at - 4.0 + 1e-9


def test_polling_backs_off_and_survives_transient_describe_errors() -> None:
    fake, clock = FakeDataApi(hang_next=1, answer_with_status=False), FakeClock()
    original = fake.describe_statement
    failures = iter([True, True, False])

    def flaky(*, Id: str) -> DescribeStatementReply:
        if next(failures, False):
            raise client_error("InternalServerException", operation="DescribeStatement")
        fake.statements[0].status = "FINISHED"
        return original(Id=Id)

    fake.describe_statement = flaky  # type: ignore[method-assign]
    outcome = run(make_api(fake, clock), phases(clock, 60))
    assert outcome.status is StatementStatus.FINISHED


def test_orphans_are_only_statements_past_their_owners_deadline() -> None:
    fake, clock = FakeDataApi(hang_next=2), FakeClock()
    api = make_api(fake, clock)
    for ends in (100, int(1.7e9 + 1000 + 600)):  # long gone, and still owned
        fake.execute_statement(
            ClusterIdentifier="c1",
            Sql="INSERT",
            StatementName=f"sqs-redshift-ingest/primary/{ends}/x",
        )
    assert api.cancel_orphans(TARGET, phases(clock, 60)) == []
    assert [s.status for s in fake.statements] == ["ABORTED", "STARTED"]


# ---- BatchExecuteStatement -----------------------------------------------------------------

BATCH = ("INSERT INTO t VALUES (:a)", "INSERT INTO t VALUES (:b)", "INSERT INTO t VALUES (:c)")
BATCH_PARAMETERS = [("a", "1"), ("b", "2"), ("c", "3")]


def run_batch(api: DataApi, deadlines: Deadlines, sqls: Sequence[str] = BATCH) -> StatementOutcome:
    submitted = api.submit(
        TARGET,
        sqls,
        BATCH_PARAMETERS[: len(sqls)],
        name=api.statement_name(TARGET, deadlines),
        client_token="token-1",
        deadlines=deadlines,
    )
    return api.await_outcome(submitted.statement_id, deadlines, status=submitted.status)


def test_a_batch_request_is_one_the_real_client_accepts() -> None:
    # Given the real client, whose Stubber checks each request against the service model
    client = boto3.client("redshift-data", region_name="us-east-1")
    clock = FakeClock()
    deadlines = phases(clock, 60)
    api = DataApi(client, call_times=CallTimes(submit=25.0, control=4.0), clock=clock)
    name = api.statement_name(TARGET, deadlines)
    with Stubber(client) as stub:
        stub.add_response(
            "batch_execute_statement",
            {"Id": "b2906c76-fa6e-4cdf-8c5f-4de1ff9b7652", "Status": "FINISHED"},
            {
                "ClusterIdentifier": "c1",
                "DbUser": "ingest",
                "Database": "dev",
                "Sqls": list(BATCH),
                "Parameters": [{"name": n, "value": v} for n, v in BATCH_PARAMETERS],
                "ClientToken": "token-1",
                "StatementName": name,
                "ExecutionMode": "TRANSACTION",  # the default, said out loud
                "WaitTimeSeconds": 20,
            },
        )
        # When three SQLs are submitted
        submitted = api.submit(
            TARGET, BATCH, BATCH_PARAMETERS, name=name, client_token="token-1", deadlines=deadlines
        )
        stub.assert_no_pending_responses()
    # Then they went as one BatchExecuteStatement, and its waited status came back
    assert submitted == Submitted("b2906c76-fa6e-4cdf-8c5f-4de1ff9b7652", "FINISHED")


@pytest.mark.parametrize("sql", ["INSERT INTO t VALUES (:p0)", ["INSERT INTO t VALUES (:p0)"]])
def test_one_sql_alone_or_in_a_list_is_an_execute_statement(sql: str | list[str]) -> None:
    fake, clock = FakeDataApi(), FakeClock()
    outcome = run(make_api(fake, clock), phases(clock, 60), sql)
    assert fake.calls == ["ExecuteStatement"]
    assert fake.statements[0].sqls == ()
    assert (outcome.status, outcome.failed_part) == (StatementStatus.FINISHED, None)


@pytest.mark.parametrize("count", [0, 41])
def test_a_statement_carries_1_to_40_sqls(count: int) -> None:
    fake, clock = FakeDataApi(), FakeClock()
    with pytest.raises(ValueError, match="1 to 40 SQL strings"):
        run_batch(make_api(fake, clock), phases(clock, 60), ["SELECT 1"] * count)
    assert fake.calls == []


@pytest.mark.parametrize("answer_with_status", [True, False])
def test_a_batch_finishes_whether_or_not_the_submit_answers_with_its_status(
    answer_with_status: bool,
) -> None:
    fake, clock = FakeDataApi(answer_with_status=answer_with_status), FakeClock()
    outcome = run_batch(make_api(fake, clock), phases(clock, 60))
    assert (outcome.status, outcome.error, outcome.failed_part) == (
        StatementStatus.FINISHED, None, None
    )  # fmt: skip
    assert fake.calls == ["BatchExecuteStatement"] + ["DescribeStatement"] * (
        not answer_with_status
    )
    assert fake.statements[0].sqls == BATCH


def test_a_failed_batch_names_its_failed_sql_and_that_sqls_own_error() -> None:
    # Given a batch whose third SQL carries a value the table refuses, and a batch-level Error
    # that says nothing about the value (the service does not document what it says)
    fake = FakeDataApi(poison={"3"}, batch_error="ERROR: batch statement failed")
    clock = FakeClock()
    outcome = run_batch(make_api(fake, clock), phases(clock, 60))
    # Then the outcome names the third SQL (0-based 2) and carries the cluster's own words
    assert outcome.status is StatementStatus.FAILED
    assert outcome.failed_part == 2
    assert outcome.error == "value too long for type character varying(255)"
    assert classify_failure(outcome.error) is FailureKind.DATA


SUB = "b2906c76-fa6e-4cdf-8c5f-4de1ff9b7652"


@pytest.mark.parametrize(
    ("described", "error", "failed_part"),
    [
        # A single statement: no sub-statements
        ({"Status": "FAILED", "Error": "e"}, "e", None),
        # The first FAILED sub-statement, whatever the others report
        (
            {
                "Status": "FAILED",
                "Error": "generic",
                "SubStatements": [
                    {"Id": f"{SUB}:1", "Status": "FINISHED"},
                    {"Id": f"{SUB}:2", "Status": "FAILED", "Error": "own"},
                    {"Id": f"{SUB}:3", "Status": "FAILED", "Error": "echo"},
                ],
            },
            "own",
            1,
        ),
        (
            {
                "Status": "FAILED",
                "SubStatements": [
                    {"Id": f"{SUB}:1", "Status": "ABORTED"},
                    {"Id": f"{SUB}:2", "Status": "ABORTED"},
                    {"Id": f"{SUB}:3", "Status": "FAILED", "Error": "own"},
                ],
            },
            "own",
            2,
        ),
        # The index comes from the Id's suffix, not the position in the list
        (
            {"Status": "FAILED", "SubStatements": [{"Id": f"{SUB}:4", "Status": "FAILED"}]},
            None,
            3,
        ),
        # A FAILED sub-statement without an error of its own: the batch's
        (
            {
                "Status": "FAILED",
                "Error": "batch",
                "SubStatements": [{"Id": f"{SUB}:1", "Status": "FAILED"}],
            },
            "batch",
            0,
        ),
        # The service did not say: no sub-statement FAILED, or an Id without a number
        (
            {
                "Status": "FAILED",
                "Error": "commit failed",
                "SubStatements": [
                    {"Id": f"{SUB}:1", "Status": "FINISHED"},
                    {"Id": f"{SUB}:2", "Status": "FINISHED"},
                ],
            },
            "commit failed",
            None,
        ),
        (
            {"Status": "FAILED", "Error": "e", "SubStatements": [{"Id": SUB, "Status": "FAILED"}]},
            "e",
            None,
        ),
        (
            {
                "Status": "FAILED",
                "Error": "e",
                "SubStatements": [{"Id": f"{SUB}:0", "Status": "FAILED", "Error": "own"}],
            },
            "own",
            None,
        ),
    ],
)
def test_the_failed_part_is_read_from_the_first_failed_sub_statement(
    described: DescribeStatementReply, error: str | None, failed_part: int | None
) -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()

    def describe(*, Id: str) -> DescribeStatementReply:
        return described

    fake.describe_statement = describe  # type: ignore[method-assign]
    outcome = run_batch(make_api(fake, clock), phases(clock, 60))
    assert (outcome.status, outcome.error, outcome.failed_part) == (
        StatementStatus.FAILED, error, failed_part
    )  # fmt: skip


def test_a_failed_part_is_only_said_of_a_failed_statement() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()

    def describe(*, Id: str) -> DescribeStatementReply:
        return {"Status": "ABORTED", "SubStatements": [{"Id": f"{SUB}:1", "Status": "FAILED"}]}

    fake.describe_statement = describe  # type: ignore[method-assign]
    outcome = run_batch(make_api(fake, clock), phases(clock, 60))
    assert (outcome.status, outcome.failed_part) == (StatementStatus.ABORTED, None)


def test_a_hanging_batch_is_cancelled_at_the_work_deadline() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    deadlines = phases(clock, 10)
    outcome = run_batch(make_api(fake, clock), deadlines)
    assert (outcome.status, outcome.cancelled, outcome.failed_part) == (
        StatementStatus.ABORTED, True, None
    )  # fmt: skip
    assert deadlines.work.expires_at - 4.0 <= clock() <= deadlines.cleanup.expires_at
    assert fake.calls.count("CancelStatement") == 1
    assert fake.active["c1"] == 0


def test_a_batch_execute_statement_exception_names_its_statement() -> None:
    error = client_error("BatchExecuteStatementException", "environmental error")
    cast(Any, error.response)["StatementId"] = "stmt-9"
    mapped = map_client_error(error)
    assert isinstance(mapped, AmbiguousSubmit)
    assert mapped.statement_id == "stmt-9"
