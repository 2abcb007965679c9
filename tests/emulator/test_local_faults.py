"""Injected faults, through an unmodified boto3 client: each does what it says, once per count,
for its target only, and thread-safely."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from local.faults import DEFAULT_AFTER_COMMIT
from local.model import FAST, QUOTAS
from local.redshift_errors import CONNECTION_LOST, CONNECTION_WORDINGS, parameterised_value_error
from local.stack import LocalDataApi
from tests.emulator.helpers import (
    CLUSTER,
    TERMINAL,
    error_of,
    params,
    run,
    submit_at_once,
    wait_for,
)

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

pytestmark = pytest.mark.integration

OTHER: dict[str, Any] = {**CLUSTER, "ClusterIdentifier": "other"}
SERVERLESS: dict[str, Any] = {"WorkgroupName": "serverless", "Database": "dev"}


def hanging(data_api: LocalDataApi, client: RedshiftDataAPIServiceClient) -> str:
    """A statement that stays STARTED until cancelled."""
    data_api.hang_next("primary")
    statement_id = client.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    wait_for(client, statement_id, {"STARTED"})
    return statement_id


# ---- lost and delayed replies ----------------------------------------------------------------


def test_a_lost_reply_leaves_the_statement_running(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.lose_reply_next("primary")
    with pytest.raises(ConnectionClosedError):
        redshift_data.execute_statement(
            Sql="INSERT INTO t VALUES (1)", StatementName="lost-1", **CLUSTER
        )
    # The statement was made and runs: the caller finds it by its name.
    listed = redshift_data.list_statements(StatementName="lost-1")["Statements"]
    assert len(listed) == 1
    assert wait_for(redshift_data, listed[0]["Id"], TERMINAL)["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    # Once: the next reply arrives, and other operations were never affected.
    assert "Id" in redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)


def test_a_lost_reply_retried_with_its_client_token_makes_one_statement(
    data_api: LocalDataApi,
) -> None:
    data_api.lose_reply_next("primary")
    client = data_api.client(retries={"mode": "standard", "total_max_attempts": 2})
    response = client.execute_statement(Sql="SELECT 1", StatementName="retried", **CLUSTER)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    listed = client.list_statements(StatementName="retried")["Statements"]
    assert [s["Id"] for s in listed] == [response["Id"]]


def test_lost_replies_of_other_operations(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    statement_id = hanging(data_api, redshift_data)
    data_api.lose_reply_next("primary", operation="CancelStatement")
    with pytest.raises(ConnectionClosedError):
        redshift_data.cancel_statement(Id=statement_id)
    assert wait_for(redshift_data, statement_id, TERMINAL)["Status"] == "ABORTED"


def test_a_delayed_reply_outlasts_the_read_timeout_but_the_submit_took_effect(
    data_api: LocalDataApi,
) -> None:
    data_api.delay_reply_next("ExecuteStatement", seconds=2.0)
    impatient = data_api.client(read_timeout=0.5)
    with pytest.raises(ReadTimeoutError):
        impatient.execute_statement(Sql="SELECT 1", StatementName="slow-reply", **CLUSTER)
    # The request reached the service before the client gave up; on a loaded machine the
    # service may record it a moment after the client's 0.5 s, so it is looked for a while.
    listed: list[Any] = []
    for _ in range(50):
        listed = impatient.list_statements(StatementName="slow-reply")["Statements"]
        if listed:
            break
        time.sleep(0.1)
    assert len(listed) == 1


def test_a_delayed_reply_arrives_late(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    statement_id = redshift_data.execute_statement(Sql="SELECT 1", **SERVERLESS)["Id"]
    data_api.delay_reply_next("DescribeStatement", seconds=0.3, target="primary")
    # Another target's statement is not held...
    redshift_data.describe_statement(Id=statement_id)
    data_api.delay_reply_next("DescribeStatement", seconds=0.3)  # any target
    started = time.monotonic()
    assert redshift_data.describe_statement(Id=statement_id)["Id"] == statement_id
    assert time.monotonic() - started >= 0.3


# ---- cancels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "InternalServerException",
        "DatabaseConnectionException",
        "QueryTimeoutException",
    ],
)
def test_a_refused_cancel_leaves_the_statement_running(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, code: str
) -> None:
    statement_id = hanging(data_api, redshift_data)
    data_api.fail_cancel_next("primary", 1, code)
    assert error_of(lambda: redshift_data.cancel_statement(Id=statement_id))[0] == code
    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "STARTED"
    assert redshift_data.cancel_statement(Id=statement_id)["Status"] is True
    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "ABORTED"


@pytest.mark.parametrize("outcome", ["ABORTED", "FINISHED"])
def test_a_slow_cancel_confirms_at_once_and_ends_later(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, outcome: str
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.hang_next("primary")
    data_api.slow_cancel_next("primary", seconds=0.5, outcome=outcome)
    statement_id = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (1)", **CLUSTER)["Id"]
    wait_for(redshift_data, statement_id, {"STARTED"})

    assert redshift_data.cancel_statement(Id=statement_id)["Status"] is True

    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "STARTED"
    assert wait_for(redshift_data, statement_id, TERMINAL)["Status"] == outcome
    with data_api.connect("primary", "dev") as conn:
        rows = conn.execute("SELECT count(*) FROM t").fetchone()
    assert rows == ((1,) if outcome == "FINISHED" else (0,))


# ---- server faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerException", 500),
        ("DatabaseConnectionException", 500),
        ("ActiveSessionsExceededException", 400),
    ],
)
def test_a_server_fault_on_submit_leaves_no_statement(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, code: str, status: int
) -> None:
    data_api.server_fault_next("primary", 1, code)
    with pytest.raises(ClientError) as info:
        redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert redshift_data.list_statements()["Statements"] == []
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"


def test_execute_statement_exception_names_a_failed_statement(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.server_fault_next("primary", 1, "ExecuteStatementException")
    with pytest.raises(ClientError) as info:
        redshift_data.execute_statement(
            Sql="INSERT INTO t VALUES (1)", StatementName="faulty", **CLUSTER
        )
    error = info.value.response
    assert error["Error"]["Code"] == "ExecuteStatementException"
    statement_id = error["StatementId"]  # type: ignore[typeddict-item]
    described = redshift_data.describe_statement(Id=statement_id)
    assert (described["Status"], described["Error"]) == (
        "FAILED",
        "The SQL statement encountered an environmental error while running.",
    )
    assert [
        s["Id"] for s in redshift_data.list_statements(StatementName="faulty")["Statements"]
    ] == [statement_id]
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_batch_execute_statement_exception_names_a_failed_batch(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.server_fault_next(
        "primary", 1, "BatchExecuteStatementException", operation="BatchExecuteStatement"
    )
    with pytest.raises(ClientError) as info:
        redshift_data.batch_execute_statement(Sqls=["SELECT 1", "SELECT 2"], **CLUSTER)
    statement_id = info.value.response["StatementId"]  # type: ignore[typeddict-item]
    described = redshift_data.describe_statement(Id=statement_id)
    assert described["Status"] == "FAILED"
    assert [s["Status"] for s in described["SubStatements"]] == ["FAILED", "FAILED"]


def test_statement_faults_belong_to_their_operation(data_api: LocalDataApi) -> None:
    with pytest.raises(ValueError, match="ExecuteStatement only"):
        data_api.server_fault_next("primary", 1, "ExecuteStatementException", "CancelStatement")
    with pytest.raises(ValueError, match="code must be one of"):
        data_api.server_fault_next("primary", 1, "ValidationException")


def test_botocore_retries_a_server_fault(data_api: LocalDataApi) -> None:
    data_api.server_fault_next("primary", 1, "InternalServerException")
    client = data_api.client(retries={"mode": "standard", "total_max_attempts": 3})
    response = client.execute_statement(Sql="SELECT 1", WaitTimeSeconds=5, **CLUSTER)
    assert (response["Status"], response["ResponseMetadata"]["RetryAttempts"]) == ("FINISHED", 1)


def test_describe_faults_for_one_target_or_any(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    mine = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    theirs = redshift_data.execute_statement(Sql="SELECT 1", **OTHER)["Id"]
    data_api.fail_describe_next(1, "InternalServerException", target="other")
    redshift_data.describe_statement(Id=mine)  # not other's statement: not refused
    assert error_of(lambda: redshift_data.describe_statement(Id=theirs))[0] == (
        "InternalServerException"
    )
    data_api.fail_describe_next(2, "ThrottlingException")
    assert error_of(lambda: redshift_data.describe_statement(Id=mine))[0] == "ThrottlingException"
    assert error_of(lambda: redshift_data.describe_statement(Id=theirs))[0] == (
        "ThrottlingException"
    )
    assert redshift_data.describe_statement(Id=mine)["Id"] == mine


def test_access_denied_for_one_target(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    before = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    data_api.deny_access("primary")
    code, message = error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))
    assert code == "AccessDeniedException"
    assert "redshift-data:ExecuteStatement on resource: " in message
    assert "cluster:primary" in message
    assert error_of(lambda: redshift_data.describe_statement(Id=before))[0] == (
        "AccessDeniedException"
    )
    assert run(redshift_data, "SELECT 1", OTHER)["Status"] == "FINISHED"
    data_api.allow_access("primary")
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"


def test_faults_are_consumed_exactly_once_under_concurrency(data_api: LocalDataApi) -> None:
    data_api.server_fault_next("primary", 5, "InternalServerException")
    outcomes = submit_at_once(data_api, 12)
    assert sorted(outcomes).count("InternalServerException") == 5
    assert outcomes.count("ok") == 7


# ---- bind modes ------------------------------------------------------------------------------


def test_per_occurrence_binding_types_each_use_on_its_own(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (v VARCHAR(10), d DECIMAL(18,6), w VARCHAR(10))")
    sql = "INSERT INTO t VALUES (:p, CAST(:p AS DECIMAL(18,6)), :p)"
    assert run(redshift_data, sql, Parameters=params(p="-0"))["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT v, w FROM t").fetchall() == [("-0", "-0")]


def test_shared_binding_types_a_name_once(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_bind_mode("shared")
    run(redshift_data, "CREATE TABLE t (v VARCHAR(10), d DECIMAL(18,6), w VARCHAR(10))")
    # Text first, DECIMAL next: one type cannot serve both.
    conflict = run(
        redshift_data,
        "INSERT INTO t (v, d) VALUES (:p, CAST(:p AS DECIMAL(18,6)))",
        Parameters=params(p="-0"),
    )
    assert (conflict["Status"], conflict["Error"]) == (
        "FAILED",
        "ERROR: inconsistent types deduced for parameter $1",
    )
    # DECIMAL first: the text column gets the number as PostgreSQL prints it.
    changed = run(
        redshift_data,
        "INSERT INTO t (d, w) VALUES (CAST(:p AS DECIMAL(18,6)), :p)",
        Parameters=params(p="-0"),
    )
    assert changed["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT w FROM t").fetchall() == [("0",)]
    # Within one type, sharing is harmless.
    same = run(redshift_data, "INSERT INTO t (v, w) VALUES (:q, :q)", Parameters=params(q="x"))
    assert same["Status"] == "FINISHED"
    data_api.reset()
    assert data_api.service.bind_mode == "per-occurrence"


# ---- the active-statement quota --------------------------------------------------------------


@pytest.mark.parametrize("quota", QUOTAS)
def test_the_quota_holds_at_its_configured_value(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, quota: int
) -> None:
    # The documented 200 and the 500 the old system met: whichever a cluster has, it holds.
    data_api.set_model("primary", replace(FAST, active_quota=quota))
    data_api.hang_next("primary", quota)
    for _ in range(quota):
        redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)
    assert error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)) == (
        "ActiveStatementsExceededException",
        f"Active statements exceeded the allowed quota ({quota}).",
    )
    stats = data_api.stats("primary")
    assert (stats.active, stats.peak_active, stats.rejected) == (quota, quota, 1)
    assert run(redshift_data, "SELECT 1", OTHER)["Status"] == "FINISHED"


# ---- a commit that took effect, then a lost connection ---------------------------------------


def count_rows(data_api: LocalDataApi, target: str = "primary") -> int:
    with data_api.connect(target, "dev") as conn:
        row = conn.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_a_statement_failed_after_its_commit_left_its_rows(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.fail_after_commit_next("primary", 2)
    for value in ("1", "2"):
        described = run(redshift_data, "INSERT INTO t VALUES (:a)", Parameters=params(a=value))
        assert (described["Status"], described["Error"]) == ("FAILED", DEFAULT_AFTER_COMMIT)
    assert DEFAULT_AFTER_COMMIT == CONNECTION_LOST
    assert CONNECTION_LOST.startswith("server closed the connection unexpectedly\n\t")
    # Both committed: the rows are in PostgreSQL, and the cluster counted the commits.
    assert count_rows(data_api) == 2
    assert [c.rows for c in data_api.stats("primary").commits if c.tables] == [1, 1]
    # Twice only; the connection it "lost" is not reused, and the next statement is fine.
    assert run(redshift_data, "INSERT INTO t VALUES (3)")["Status"] == "FINISHED"
    assert count_rows(data_api) == 3


def test_a_batch_failed_after_its_commit(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    error = CONNECTION_WORDINGS[1]  # "SSL SYSCALL error: EOF detected"
    data_api.fail_after_commit_next("primary", error=error)
    response = redshift_data.batch_execute_statement(
        Sqls=["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3)"],
        **CLUSTER,
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    # The batch FAILED; its SQLs ran and committed, the last (the commit's end) FAILED.
    assert (described["Status"], described["Error"]) == ("FAILED", error)
    subs = described["SubStatements"]
    assert [s["Status"] for s in subs] == ["FINISHED", "FINISHED", "FAILED"]
    assert [s.get("Error") for s in subs] == [None, None, error]
    assert count_rows(data_api) == 3


def test_a_select_failed_after_its_commit_has_no_result(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.fail_after_commit_next("primary")
    described = run(redshift_data, "SELECT 1")
    assert (described["Status"], described["HasResultSet"]) == ("FAILED", False)
    code, _ = error_of(lambda: redshift_data.get_statement_result(Id=described["Id"]))
    assert code == "ValidationException"


def test_a_statement_that_fails_by_itself_spends_the_fault(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a VARCHAR(2))")
    data_api.fail_after_commit_next("primary")
    described = run(redshift_data, "INSERT INTO t VALUES ('abc')")
    assert described["Error"].startswith("ERROR: Value too long for character type\n")
    assert count_rows(data_api) == 0
    assert run(redshift_data, "INSERT INTO t VALUES ('ab')")["Status"] == "FINISHED"


def test_fail_after_commit_is_per_target(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)", OTHER)
    data_api.fail_after_commit_next("primary")
    assert run(redshift_data, "INSERT INTO t VALUES (1)", OTHER)["Status"] == "FINISHED"
    assert run(redshift_data, "SELECT 1")["Status"] == "FAILED"
    with pytest.raises(ValueError, match="count"):
        data_api.fail_after_commit_next("primary", 0)


# ---- statements that carry parameters --------------------------------------------------------


def test_the_next_parameterised_statements_fail_and_the_others_run(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.fail_parameterised_next("primary", 2)
    insert = "INSERT INTO t VALUES (:a)"
    # Statements without Parameters neither fail nor count.
    assert run(redshift_data, "INSERT INTO t VALUES (1)")["Status"] == "FINISHED"
    for value in ("2", "3"):
        described = run(redshift_data, insert, Parameters=params(a=value))
        assert (described["Status"], described["Error"]) == (
            "FAILED",
            parameterised_value_error(),
        )
    assert run(redshift_data, insert, Parameters=params(a="4"))["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT a FROM t ORDER BY a").fetchall() == [(1,), (4,)]


def test_every_parameterised_statement_fails_until_cleared(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.fail_parameterised("primary", error="ERROR: injected value error")
    for _ in range(3):
        described = run(redshift_data, "SELECT :a", Parameters=params(a="1"))
        assert (described["Status"], described["Error"]) == (
            "FAILED",
            "ERROR: injected value error",
        )
    response = redshift_data.batch_execute_statement(
        Sqls=["SELECT 1", "SELECT :a"], Parameters=params(a="1"), **CLUSTER
    )
    batch = wait_for(redshift_data, response["Id"], TERMINAL)
    assert (batch["Status"], batch["Error"]) == ("FAILED", "ERROR: injected value error")
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"
    assert run(redshift_data, "SELECT :a", OTHER, Parameters=params(a="1"))["Status"] == "FINISHED"
    data_api.clear_parameterised("primary")
    assert run(redshift_data, "SELECT :a", Parameters=params(a="1"))["Status"] == "FINISHED"
