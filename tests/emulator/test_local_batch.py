"""BatchExecuteStatement on the local Data API, through an unmodified boto3 client: one
transaction, sub-statements, shared parameters, limits, idempotency, faults.

What the service documents: the SQLs run serially, each once the one before it completed, as one
transaction ("If any SQL statement fails, all work is rolled back"); DescribeStatement lists
them as SubStatements "<id>:<n>", each with its own status and error; the parameters are shared
and each must be used by some SQL. What it does not: what the SQLs around a failed one report.
The emulator says FINISHED for those that ran before it and ABORTED for those that never
started; the function reads only the FAILED one (ingest.redshift).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ConnectionClosedError

from local.redshift_errors import value_too_long
from local.stack import LocalDataApi
from tests.emulator.helpers import CLUSTER, TERMINAL, error_of, params, run, wait_for

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

pytestmark = pytest.mark.integration

INSERT = "INSERT INTO t VALUES (:{})"


def too_long(query_id: int) -> str:
    return value_too_long("character varying(3)", query_id)


@pytest.fixture
def table(redshift_data: RedshiftDataAPIServiceClient) -> None:
    assert run(redshift_data, "CREATE TABLE t (a VARCHAR(3))")["Status"] == "FINISHED"


def rows(data_api: LocalDataApi) -> list[str]:
    with data_api.connect("primary", "dev") as conn:
        return [a for (a,) in conn.execute("SELECT a FROM t ORDER BY a").fetchall()]


def batch(
    client: RedshiftDataAPIServiceClient, values: list[str], **request: Any
) -> dict[str, Any]:
    """One INSERT per value, as one batch; returns its DescribeStatement once it ended."""
    names = [f"v{i}" for i in range(len(values))]
    response = client.batch_execute_statement(
        Sqls=[INSERT.format(name) for name in names],
        Parameters=params(**dict(zip(names, values, strict=True))),
        **CLUSTER,
        **request,
    )
    return wait_for(client, response["Id"], TERMINAL)


def statuses(described: dict[str, Any]) -> list[str]:
    return [sub["Status"] for sub in described["SubStatements"]]


# ---- one transaction, and what its sub-statements report -------------------------------------


@pytest.mark.parametrize(
    ("values", "reported"),
    [
        (["bad!", "b", "c"], ["FAILED", "ABORTED", "ABORTED"]),
        (["a", "bad!", "c"], ["FINISHED", "FAILED", "ABORTED"]),
        (["a", "b", "bad!"], ["FINISHED", "FINISHED", "FAILED"]),
    ],
)
@pytest.mark.usefixtures("table")
def test_a_failure_anywhere_commits_nothing_and_only_its_sql_reports_failed(
    data_api: LocalDataApi,
    redshift_data: RedshiftDataAPIServiceClient,
    values: list[str],
    reported: list[str],
) -> None:
    described = batch(redshift_data, values)
    assert statuses(described) == reported
    failed = reported.index("FAILED")
    subs = described["SubStatements"]
    # The batch FAILED with the cluster's words (naming the failed SQL's query), and so did
    # the one SQL that failed
    too_long_error = too_long(subs[failed]["RedshiftQueryId"])
    assert (described["Status"], described["Error"]) == ("FAILED", too_long_error)
    assert [sub.get("Error") for sub in subs] == [
        too_long_error if s == "FAILED" else None for s in reported
    ]
    assert [sub["Id"] for sub in subs] == [f"{described['Id']}:{n}" for n in (1, 2, 3)]
    # Each part can be described by its own id, as the service's docs show
    part = redshift_data.describe_statement(Id=subs[failed]["Id"])
    assert (part["Status"], part["Error"], part["QueryString"]) == (
        "FAILED", too_long_error, INSERT.format(f"v{failed}")
    )  # fmt: skip
    # The SQLs before it ran (one row each), then everything rolled back
    assert [sub["ResultRows"] for sub in subs[:failed]] == [1] * failed
    assert rows(data_api) == []


@pytest.mark.usefixtures("table")
def test_a_finished_batch_commits_every_sql(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    described = batch(redshift_data, ["a", "b", "c"])
    assert (described["Status"], statuses(described)) == ("FINISHED", ["FINISHED"] * 3)
    assert "Error" not in described
    assert described["ResultRows"] == 3
    assert rows(data_api) == ["a", "b", "c"]


@pytest.mark.usefixtures("table")
def test_the_sqls_run_in_order_each_after_the_one_before_and_commit_together(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # Given a batch whose second SQL runs until cancelled
    response = redshift_data.batch_execute_statement(
        Sqls=["INSERT INTO t VALUES ('a')", "SELECT pg_sleep(60)", "INSERT INTO t VALUES ('c')"],
        **CLUSTER,
    )

    deadline = time.monotonic() + 10
    running = dict(redshift_data.describe_statement(Id=response["Id"]))
    while statuses(running)[1] != "STARTED":
        assert time.monotonic() < deadline, statuses(running)
        time.sleep(0.01)
        running = dict(redshift_data.describe_statement(Id=response["Id"]))
    # While it runs, the first has completed, the third waits, and nothing is visible outside
    assert running["Status"] == "STARTED"
    assert statuses(running) == ["FINISHED", "STARTED", "SUBMITTED"]
    assert rows(data_api) == []
    # When it is cancelled, the whole transaction is: the first SQL's row is rolled back
    assert redshift_data.cancel_statement(Id=response["Id"])["Status"] is True
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert (described["Status"], statuses(described)) == (
        "ABORTED", ["FINISHED", "ABORTED", "ABORTED"]
    )  # fmt: skip
    assert rows(data_api) == []


def test_a_failed_sql_keeps_the_results_of_those_before_it(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    response = redshift_data.batch_execute_statement(
        Sqls=["SELECT 1 AS one", "SELECT * FROM missing_table"], **CLUSTER
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert statuses(described) == ["FINISHED", "FAILED"]
    first = redshift_data.get_statement_result(Id=described["SubStatements"][0]["Id"])
    assert first["Records"] == [[{"longValue": 1}]]


# ---- request rules ---------------------------------------------------------------------------


@pytest.mark.usefixtures("table")
def test_shared_parameters_serve_every_sql_that_names_them(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    response = redshift_data.batch_execute_statement(
        Sqls=["INSERT INTO t VALUES (:x), (:y)", "INSERT INTO t VALUES (:x)"],
        Parameters=params(x="a", y="b"),
        **CLUSTER,
    )
    assert wait_for(redshift_data, response["Id"], TERMINAL)["Status"] == "FINISHED"
    assert rows(data_api) == ["a", "a", "b"]


def test_each_shared_parameter_must_be_used_by_some_sql(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    code, message = error_of(
        lambda: redshift_data.batch_execute_statement(
            Sqls=["SELECT :a", "SELECT :b"], Parameters=params(a="1", b="2", c="3"), **CLUSTER
        )
    )
    assert (code, message) == (
        "ValidationException",
        "Parameters list contains unused parameters. Unused parameters: [c]",
    )
    assert redshift_data.list_statements()["Statements"] == []


def test_a_parameter_no_value_was_given_for_fails_its_sql(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    response = redshift_data.batch_execute_statement(
        Sqls=["SELECT :a", "SELECT :b"], Parameters=params(a="1"), **CLUSTER
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert statuses(described) == ["FINISHED", "FAILED"]
    assert (
        described["SubStatements"][1]["Error"]
        == 'ERROR: syntax error at or near ":"\n  Position: 8'
    )


def test_each_sql_is_within_100_kb_not_the_batch(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    prefix = "SELECT 1 -- "
    at_limit = prefix + "x" * (100 * 1024 - len(prefix))
    response = redshift_data.batch_execute_statement(Sqls=[at_limit] * 3, **CLUSTER)
    assert wait_for(redshift_data, response["Id"], TERMINAL)["Status"] == "FINISHED"
    assert error_of(
        lambda: redshift_data.batch_execute_statement(Sqls=["SELECT 1", at_limit + "x"], **CLUSTER)
    ) == ("ValidationException", "Cannot process query string larger than 100kB")


def test_counted_parameters_count_towards_the_sql_that_uses_them(
    data_api: LocalDataApi,
    redshift_data: RedshiftDataAPIServiceClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the (undocumented) rule that parameter values count towards the 100 KB
    config = replace(data_api.service.config, size_limit_counts_parameters=True)
    monkeypatch.setattr(data_api.service, "config", config)
    sql = "SELECT :a AS a -- " + "x" * (40 * 1024)
    half = "y" * (45 * 1024)
    # Then two SQLs each within 100 KB with their own values pass, though not with the list's
    response = redshift_data.batch_execute_statement(
        Sqls=[sql, sql.replace(":a", ":b")], Parameters=params(a=half, b=half), **CLUSTER
    )
    assert wait_for(redshift_data, response["Id"], TERMINAL)["Status"] == "FINISHED"
    # And one SQL over it with its own values is refused
    assert error_of(
        lambda: redshift_data.batch_execute_statement(
            Sqls=[sql.replace(":a", ":a || :b"), "SELECT 1"],
            Parameters=params(a=half, b=half),
            **CLUSTER,
        )
    ) == ("ValidationException", "Cannot process query string larger than 100kB")


def test_only_the_transaction_execution_mode_is_emulated(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    response = redshift_data.batch_execute_statement(
        Sqls=["SELECT 1", "SELECT 2"], ExecutionMode="TRANSACTION", WaitTimeSeconds=5, **CLUSTER
    )
    assert response["Status"] == "FINISHED"  # WaitTimeSeconds covers the whole batch
    code, message = error_of(
        lambda: redshift_data.batch_execute_statement(
            Sqls=["SELECT 1"], ExecutionMode="AUTO_COMMIT", **CLUSTER
        )
    )
    assert (code, message) == (
        "ValidationException",
        "ExecutionMode AUTO_COMMIT is not supported by the local Data API",
    )


# ---- names, tokens and faults ----------------------------------------------------------------


@pytest.mark.usefixtures("table")
def test_a_client_token_makes_a_batch_idempotent_and_its_name_finds_it(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    token = str(uuid.uuid4())
    first = batch(redshift_data, ["a", "b"], ClientToken=token, StatementName="tx-1")
    again = batch(redshift_data, ["a", "b"], ClientToken=token, StatementName="tx-1")
    assert first["Id"] == again["Id"]
    assert rows(data_api) == ["a", "b"]  # written once
    [listed] = redshift_data.list_statements(StatementName="tx-1")["Statements"]
    assert (listed["Id"], listed["IsBatchStatement"], listed["Status"]) == (
        first["Id"], True, "FINISHED"
    )  # fmt: skip
    assert listed["QueryStrings"] == [INSERT.format("v0"), INSERT.format("v1")]
    assert listed["QueryParameters"] == params(v0="a", v1="b")


@pytest.mark.usefixtures("table")
def test_a_lost_batch_reply_leaves_the_batch_to_be_found_by_name(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.lose_reply_next("primary", operation="BatchExecuteStatement")
    with pytest.raises(ConnectionClosedError):
        redshift_data.batch_execute_statement(
            Sqls=[INSERT.format("a"), INSERT.format("b")],
            Parameters=params(a="a", b="b"),
            StatementName="lost-tx",
            **CLUSTER,
        )
    [listed] = redshift_data.list_statements(StatementName="lost-tx")["Statements"]
    assert wait_for(redshift_data, listed["Id"], TERMINAL)["Status"] == "FINISHED"
    assert rows(data_api) == ["a", "b"]


@pytest.mark.usefixtures("table")
def test_statement_faults_apply_to_a_batch_as_a_whole(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # An injected failure ends the batch at its first SQL, committing nothing
    data_api.fail_next("primary", error="ERROR: 1023 DETAIL: Serializable isolation violation")
    described = batch(redshift_data, ["a", "b"])
    assert (described["Status"], statuses(described)) == ("FAILED", ["FAILED", "ABORTED"])
    assert described["Error"] == "ERROR: 1023 DETAIL: Serializable isolation violation"
    # A rejected submit makes no batch
    data_api.reject_next("primary")
    code, _ = error_of(lambda: batch(redshift_data, ["a", "b"]))
    assert code == "ActiveStatementsExceededException"
    assert rows(data_api) == []
    assert [s["Status"] for s in redshift_data.list_statements()["Statements"]] == [
        "FAILED", "FINISHED"
    ]  # fmt: skip


@pytest.mark.usefixtures("table")
def test_a_hanging_batch_is_cancelled_whole(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.hang_next("primary")
    response = redshift_data.batch_execute_statement(
        Sqls=[INSERT.format("a")], Parameters=params(a="a"), **CLUSTER
    )
    wait_for(redshift_data, response["Id"], {"STARTED"})
    assert redshift_data.cancel_statement(Id=response["Id"])["Status"] is True
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert (described["Status"], statuses(described)) == ("ABORTED", ["ABORTED"])
    assert rows(data_api) == []
