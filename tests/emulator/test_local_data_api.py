"""The local Data API through an unmodified boto3 client: operations, states, rules, faults."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from local.model import FAST
from local.redshift_errors import value_too_long
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

# ---- operations --------------------------------------------------------------------------


def test_execute_statement_returns_typed_records(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(
        redshift_data,
        "SELECT :n::int + 1 AS answer, :s AS word, NULL::int AS nothing, TRUE AS yes, "
        "1.5::float8 AS ratio, CAST(:d AS DECIMAL(18,6)) AS money, "
        "CAST(:t AS TIMESTAMP) AS at, JSON_PARSE(:j) AS doc",
        Parameters=params(n="41", s="hello", d="4.99", t="2024-05-01 12:34:56", j='{"a": 1}'),
    )
    assert described["Status"] == "FINISHED"
    assert described["HasResultSet"] is True
    assert described["ResultRows"] == 1
    result = redshift_data.get_statement_result(Id=described["Id"])
    assert result["TotalNumRows"] == 1
    assert [c["name"] for c in result["ColumnMetadata"]] == [
        "answer", "word", "nothing", "yes", "ratio", "money", "at", "doc"
    ]  # fmt: skip
    assert [c["typeName"] for c in result["ColumnMetadata"]][-3:] == [
        "numeric", "timestamp", "super"
    ]  # fmt: skip
    assert result["Records"] == [
        [
            {"longValue": 42},
            {"stringValue": "hello"},
            {"isNull": True},
            {"booleanValue": True},
            {"doubleValue": 1.5},
            {"stringValue": "4.990000"},
            {"stringValue": "2024-05-01 12:34:56"},
            {"stringValue": '{"a": 1}'},
        ]
    ]


def test_describe_reports_the_statement(redshift_data: RedshiftDataAPIServiceClient) -> None:
    sql = "SELECT :a AS a"
    response = redshift_data.execute_statement(Sql=sql, Parameters=params(a="x"), **CLUSTER)
    assert response["ClusterIdentifier"] == "primary"
    assert response["Database"] == "dev"
    assert response["DbUser"] == "awsuser"
    assert "Status" not in response  # only with WaitTimeSeconds
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert described["Id"] == response["Id"]
    assert described["QueryString"] == sql
    assert described["QueryParameters"] == params(a="x")
    assert described["Duration"] > 0
    assert described["UpdatedAt"] >= described["CreatedAt"]
    assert described["RedshiftPid"] > 0
    assert "Error" not in described


def test_insert_reports_rows_affected(redshift_data: RedshiftDataAPIServiceClient) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    described = run(redshift_data, "INSERT INTO t VALUES (1), (2), (3)")
    assert (described["Status"], described["ResultRows"], described["HasResultSet"]) == (
        "FINISHED", 3, False
    )  # fmt: skip
    code, message = error_of(lambda: redshift_data.get_statement_result(Id=described["Id"]))
    assert code == "ValidationException"
    assert message == (
        "Query does not have result. Please check query status with DescribeStatement."
    )


def test_failed_statement_carries_the_database_error(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(redshift_data, "SELECT * FROM missing_table")
    assert described["Status"] == "FAILED"
    assert described["Error"] == 'ERROR: relation "missing_table" does not exist'


def test_result_pages_with_next_token(redshift_data: RedshiftDataAPIServiceClient) -> None:
    described = run(redshift_data, "SELECT generate_series(1, 1500) AS n")
    pages = list(redshift_data.get_paginator("get_statement_result").paginate(Id=described["Id"]))
    assert len(pages) == 2
    numbers = [r[0]["longValue"] for page in pages for r in page["Records"]]
    assert numbers == list(range(1, 1501))


def test_list_statements_filters_by_name_and_status(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    ok = run(redshift_data, "SELECT 1", StatementName="report-ok")
    bad = run(redshift_data, "SELECT nope", StatementName="report-bad")
    run(redshift_data, "SELECT 2", StatementName="other")
    listed = redshift_data.list_statements(StatementName="report")["Statements"]
    assert [s["Id"] for s in listed] == [bad["Id"], ok["Id"]]  # newest first
    failed = redshift_data.list_statements(Status="FAILED")["Statements"]
    assert [(s["Id"], s["QueryString"]) for s in failed] == [(bad["Id"], "SELECT nope")]


def test_endpoint_from_the_sdk_environment_variable(data_api: LocalDataApi) -> None:
    # The fixture exported AWS_ENDPOINT_URL_REDSHIFT_DATA; no endpoint_url here.
    client = boto3.client("redshift-data")
    response = client.execute_statement(Sql="SELECT 1", WaitTimeSeconds=5, **CLUSTER)
    assert response["Status"] == "FINISHED"


# ---- WaitTimeSeconds and ClientToken -------------------------------------------------------


def test_wait_time_seconds_returns_the_final_status(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    response = redshift_data.execute_statement(Sql="SELECT 1", WaitTimeSeconds=5, **CLUSTER)
    assert response["Status"] == "FINISHED"
    failed = redshift_data.execute_statement(Sql="SELECT nope", WaitTimeSeconds=5, **CLUSTER)
    assert failed["Status"] == "FAILED"


def test_wait_time_seconds_gives_up_on_a_running_statement(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.hang_next("primary")
    started = time.monotonic()
    response = redshift_data.execute_statement(Sql="SELECT 1", WaitTimeSeconds=1, **CLUSTER)
    assert time.monotonic() - started >= 1.0
    assert response["Status"] == "STARTED"


def test_wait_time_seconds_over_30_is_rejected(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    code, message = error_of(
        lambda: redshift_data.execute_statement(Sql="SELECT 1", WaitTimeSeconds=31, **CLUSTER)
    )
    assert code == "ValidationException"
    assert "WaitTimeSeconds" in message


def test_client_token_makes_a_submit_idempotent(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a VARCHAR(10))")
    token = str(uuid.uuid4())
    insert = {"Sql": "INSERT INTO t VALUES (:a)", "Parameters": params(a="x"), **CLUSTER}
    first = redshift_data.execute_statement(ClientToken=token, WaitTimeSeconds=5, **insert)
    again = redshift_data.execute_statement(ClientToken=token, WaitTimeSeconds=5, **insert)
    other = redshift_data.execute_statement(WaitTimeSeconds=5, **insert)  # botocore's own token
    assert first["Id"] == again["Id"] != other["Id"]
    assert again["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


# ---- BatchExecuteStatement -----------------------------------------------------------------


def test_batch_runs_in_order_with_shared_parameters(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    response = redshift_data.batch_execute_statement(
        Sqls=[
            "CREATE TABLE t (a VARCHAR(10))",
            "INSERT INTO t VALUES (:first)",
            "INSERT INTO t VALUES (:second), (:first)",
            "SELECT a FROM t ORDER BY a",
        ],
        Parameters=params(first="a", second="b"),
        **CLUSTER,
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert described["Status"] == "FINISHED"
    subs = described["SubStatements"]
    assert [s["Id"] for s in subs] == [f"{response['Id']}:{n}" for n in (1, 2, 3, 4)]
    assert [s["Status"] for s in subs] == ["FINISHED"] * 4
    assert [s["ResultRows"] for s in subs[1:]] == [1, 2, 3]
    rows = redshift_data.get_statement_result(Id=subs[3]["Id"])["Records"]
    assert rows == [[{"stringValue": "a"}], [{"stringValue": "a"}], [{"stringValue": "b"}]]
    assert redshift_data.describe_statement(Id=subs[1]["Id"])["QueryString"] == (
        "INSERT INTO t VALUES (:first)"
    )
    listed = redshift_data.list_statements()["Statements"][0]
    assert listed["IsBatchStatement"] is True
    assert len(listed["QueryStrings"]) == 4


def test_batch_rolls_back_everything_when_one_statement_fails(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a VARCHAR(3))")
    response = redshift_data.batch_execute_statement(
        Sqls=["INSERT INTO t VALUES ('ok')", "INSERT INTO t VALUES ('too long')", "SELECT 1"],
        **CLUSTER,
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    assert described["Status"] == "FAILED"
    failed = described["SubStatements"][1]
    assert described["Error"] == value_too_long("character varying(3)", failed["RedshiftQueryId"])
    # The first ran (then rolled back), the third never started: see test_local_batch.py
    assert [s["Status"] for s in described["SubStatements"]] == ["FINISHED", "FAILED", "ABORTED"]
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_batch_takes_at_most_40_statements(redshift_data: RedshiftDataAPIServiceClient) -> None:
    assert run_batch_ok(redshift_data, 40)
    code, message = error_of(
        lambda: redshift_data.batch_execute_statement(Sqls=["SELECT 1"] * 41, **CLUSTER)
    )
    assert code == "ValidationException"
    assert "40" in message


def run_batch_ok(client: RedshiftDataAPIServiceClient, count: int) -> bool:
    response = client.batch_execute_statement(Sqls=["SELECT 1"] * count, **CLUSTER)
    return bool(wait_for(client, response["Id"], TERMINAL)["Status"] == "FINISHED")


# ---- service rules ----------------------------------------------------------------------------


def test_sql_over_100_kb_is_rejected(redshift_data: RedshiftDataAPIServiceClient) -> None:
    prefix = "SELECT 1 -- "
    at_limit = prefix + "x" * (100 * 1024 - len(prefix))
    assert run(redshift_data, at_limit)["Status"] == "FINISHED"
    code, message = error_of(lambda: redshift_data.execute_statement(Sql=at_limit + "x", **CLUSTER))
    assert (code, message) == (
        "ValidationException",
        "Cannot process query string larger than 100kB",
    )


def test_the_size_limit_counts_bytes_not_characters(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    sql = "SELECT 1 -- " + "é" * (50 * 1024)  # fewer than 100k characters, more than 100 KB
    code, _ = error_of(lambda: redshift_data.execute_statement(Sql=sql, **CLUSTER))
    assert code == "ValidationException"


def test_empty_parameter_value_is_rejected(data_api: LocalDataApi) -> None:
    # botocore refuses an empty value itself; without its check the service must too.
    client = data_api.client(parameter_validation=False)
    code, message = error_of(
        lambda: client.execute_statement(Sql="SELECT :a", Parameters=params(a=""), **CLUSTER)
    )
    assert (code, message) == ("ValidationException", "Parameter a has an empty value")


def test_unused_parameter_is_rejected(redshift_data: RedshiftDataAPIServiceClient) -> None:
    code, message = error_of(
        lambda: redshift_data.execute_statement(
            Sql="SELECT :a", Parameters=params(a="1", b="2", c="3"), **CLUSTER
        )
    )
    assert (code, message) == (
        "ValidationException",
        "Parameters list contains unused parameters. Unused parameters: [b, c]",
    )


def test_placeholders_in_literals_comments_and_casts_are_not_parameters(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(
        redshift_data,
        "SELECT ':a' AS literal, :a::int AS cast_value, :a || :a AS twice, "
        '$$:a$$ AS dollar, 1 AS ":a" /* :a */ -- :a',
        Parameters=params(a="7"),
    )
    assert described["Status"] == "FINISHED"
    record = redshift_data.get_statement_result(Id=described["Id"])["Records"][0]
    assert record == [
        {"stringValue": ":a"},
        {"longValue": 7},
        {"stringValue": "77"},
        {"stringValue": ":a"},
        {"longValue": 1},
    ]


def test_parameter_values_are_bound_not_spliced(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a VARCHAR(100))")
    hostile = "x'); DROP TABLE t; --"
    described = run(redshift_data, "INSERT INTO t VALUES (:a)", Parameters=params(a=hostile))
    assert described["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT a FROM t").fetchall() == [(hostile,)]


def test_a_missing_parameter_fails_like_redshift(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(redshift_data, "SELECT :a, :b", Parameters=params(a="1"))
    assert described["Status"] == "FAILED"
    # With the driver's Position line, as the Data API carries it (local.redshift_errors)
    assert described["Error"] == 'ERROR: syntax error at or near ":"\n  Position: 12'


def test_nul_characters_cannot_be_stored(redshift_data: RedshiftDataAPIServiceClient) -> None:
    run(redshift_data, "CREATE TABLE t (a VARCHAR(10))")
    described = run(redshift_data, "INSERT INTO t VALUES (:a)", Parameters=params(a="a\x00b"))
    assert described["Status"] == "FAILED"
    assert "0x00" in described["Error"]


def test_statement_ids_are_checked(redshift_data: RedshiftDataAPIServiceClient) -> None:
    code, message = error_of(lambda: redshift_data.describe_statement(Id="not-an-id"))
    assert code == "ValidationException"
    assert message.startswith("id must satisfy regex pattern")
    unknown = str(uuid.uuid4())
    not_found = ("ResourceNotFoundException", "Query does not exist.")
    assert error_of(lambda: redshift_data.describe_statement(Id=unknown)) == not_found
    assert error_of(lambda: redshift_data.cancel_statement(Id=unknown)) == not_found
    assert error_of(lambda: redshift_data.get_statement_result(Id=unknown)) == not_found


def test_targets_must_be_named_with_credentials(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    code, _ = error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", Database="dev"))
    assert code == "ValidationException"
    code, _ = error_of(
        lambda: redshift_data.execute_statement(
            Sql="SELECT 1", ClusterIdentifier="primary", Database="dev"
        )
    )
    assert code == "ValidationException"
    secret = redshift_data.execute_statement(
        Sql="SELECT 1",
        ClusterIdentifier="primary",
        SecretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        Database="dev",
        WaitTimeSeconds=5,
    )
    assert secret["Status"] == "FINISHED"


# ---- targets -----------------------------------------------------------------------------------


def test_each_target_and_database_is_its_own_database(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    primary = CLUSTER
    secondary: dict[str, Any] = {"WorkgroupName": "serverless", "Database": "dev"}
    other_db = {**CLUSTER, "Database": "analytics"}
    for target, value in ((primary, "p"), (secondary, "s"), (other_db, "o")):
        run(redshift_data, "CREATE TABLE t (a VARCHAR(1))", target)
        run(redshift_data, "INSERT INTO t VALUES (:a)", target, Parameters=params(a=value))
    for name, database, value in (
        ("primary", "dev", "p"),
        ("serverless", "dev", "s"),
        ("primary", "analytics", "o"),
    ):
        with data_api.connect(name, database) as conn:
            assert conn.execute("SELECT a FROM t").fetchall() == [(value,)]
    response = redshift_data.execute_statement(Sql="SELECT 1", **secondary)
    assert response["WorkgroupName"] == "serverless"
    assert "ClusterIdentifier" not in response


def test_reset_gives_a_fresh_database(data_api: LocalDataApi) -> None:
    data_api.execute_ddl("primary", "dev", "CREATE TABLE t (a INT)")
    data_api.reset()
    data_api.declare_target("primary")  # reset forgets the targets too
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


# ---- state machine, cancel, slots --------------------------------------------------------


def test_statements_queue_as_submitted_beyond_the_slots(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_model("primary", replace(FAST, slots=1))
    data_api.hang_next("primary")
    first = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    wait_for(redshift_data, first, {"STARTED"})
    second = redshift_data.execute_statement(Sql="SELECT 2", **CLUSTER)["Id"]
    time.sleep(0.2)  # it would have started by now if a slot were free
    assert redshift_data.describe_statement(Id=second)["Status"] == "SUBMITTED"
    stats = data_api.stats("primary")
    assert (stats.running, stats.queued, stats.active) == (1, 1, 2)

    assert redshift_data.cancel_statement(Id=first)["Status"] is True
    assert redshift_data.describe_statement(Id=first)["Status"] == "ABORTED"
    assert wait_for(redshift_data, second, TERMINAL)["Status"] == "FINISHED"


def test_cancel_aborts_a_hanging_statement_and_writes_nothing(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.hang_next("primary")
    statement_id = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (1)", **CLUSTER)["Id"]
    wait_for(redshift_data, statement_id, {"STARTED"})

    assert redshift_data.cancel_statement(Id=statement_id)["Status"] is True

    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "ABORTED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_cancel_interrupts_running_sql(redshift_data: RedshiftDataAPIServiceClient) -> None:
    statement_id = redshift_data.execute_statement(Sql="SELECT pg_sleep(60)", **CLUSTER)["Id"]
    wait_for(redshift_data, statement_id, {"STARTED"})
    time.sleep(0.1)  # let it reach PostgreSQL
    started = time.monotonic()
    assert redshift_data.cancel_statement(Id=statement_id)["Status"] is True
    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "ABORTED"
    assert time.monotonic() - started < 10


def test_cancel_of_a_queued_statement(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_model("primary", replace(FAST, slots=1))
    data_api.hang_next("primary")
    first = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    wait_for(redshift_data, first, {"STARTED"})
    queued = redshift_data.execute_statement(Sql="SELECT 2", **CLUSTER)["Id"]

    assert redshift_data.cancel_statement(Id=queued)["Status"] is True

    assert redshift_data.describe_statement(Id=queued)["Status"] == "ABORTED"
    assert redshift_data.describe_statement(Id=first)["Status"] == "STARTED"


def test_a_finished_statement_cannot_be_cancelled(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(redshift_data, "SELECT 1")
    code, message = error_of(lambda: redshift_data.cancel_statement(Id=described["Id"]))
    assert (code, message) == (
        "ValidationException",
        "Could not cancel a query that is already in FINISHED status",
    )


def test_a_cancel_can_lose_the_race(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.hang_next("primary")
    data_api.lose_cancel_race("primary")
    statement_id = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (1)", **CLUSTER)["Id"]
    wait_for(redshift_data, statement_id, {"STARTED"})

    assert redshift_data.cancel_statement(Id=statement_id)["Status"] is True

    # The cancel said yes, yet the rows are in: only DescribeStatement tells the truth.
    assert redshift_data.describe_statement(Id=statement_id)["Status"] == "FINISHED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


# ---- quota and timeline (the model's timing: test_local_model.py) ------------------------


def test_the_active_statement_quota(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_model("primary", replace(FAST, active_quota=3))
    data_api.hang_next("primary", 3)
    hanging = [redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"] for _ in range(3)]

    code, message = error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))

    assert (code, message) == (
        "ActiveStatementsExceededException",
        "Active statements exceeded the allowed quota (3).",
    )
    # Other clusters have quotas of their own.
    other = {**CLUSTER, "ClusterIdentifier": "other"}
    assert redshift_data.execute_statement(Sql="SELECT 1", WaitTimeSeconds=5, **other)["Status"]
    redshift_data.cancel_statement(Id=hanging[0])
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"
    stats = data_api.stats("primary")
    assert (stats.peak_active, stats.rejected) == (3, 1)
    assert data_api.peak_active("primary") == 3


def test_the_timeline_follows_active_statements(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.hang_next("primary", 2)
    ids = [redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"] for _ in range(2)]
    for statement_id in ids:
        redshift_data.cancel_statement(Id=statement_id)
    timeline = data_api.stats("primary").timeline
    assert [count for _, count in timeline] == [0, 1, 2, 1, 0]
    assert [at for at, _ in timeline] == sorted(at for at, _ in timeline)


def test_a_submit_burst_is_admitted_up_to_the_quota_and_no_further(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # Concurrent submitters race for the last places: the quota must hold exactly.
    data_api.set_model("primary", replace(FAST, active_quota=5))
    data_api.hang_next("primary", 20)
    outcomes = submit_at_once(data_api, 12)

    assert sorted(outcomes).count("ok") == 5
    assert outcomes.count("ActiveStatementsExceededException") == 7
    assert data_api.peak_active("primary") == 5


# ---- faults and throttling -------------------------------------------------------------------


def test_injected_failures_hit_the_next_statements_of_one_target(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.fail_next("primary", 2, error="ERROR: disk full")
    other = {**CLUSTER, "ClusterIdentifier": "other"}
    assert run(redshift_data, "SELECT 1", other)["Status"] == "FINISHED"
    outcomes = [run(redshift_data, "INSERT INTO t VALUES (1)") for _ in range(3)]
    assert [(d["Status"], d.get("Error")) for d in outcomes] == [
        ("FAILED", "ERROR: disk full"),
        ("FAILED", "ERROR: disk full"),
        ("FINISHED", None),
    ]
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "ActiveStatementsExceededException",
            "Active statements exceeded the allowed quota (500).",
        ),
        ("ThrottlingException", "Rate exceeded"),
    ],
)
def test_injected_rejections(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, code: str, message: str
) -> None:
    data_api.reject_next("primary", 1, code=code)
    assert error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)) == (
        code, message
    )  # fmt: skip
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"


def test_account_throttling_per_operation(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_throttle({"ExecuteStatement": 1.0})
    first = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)
    code, message = error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))
    assert (code, message) == ("ThrottlingException", "Rate exceeded")
    # Other operations have limits of their own (none here).
    for _ in range(5):
        redshift_data.describe_statement(Id=first["Id"])


def test_botocore_retries_a_throttled_submit(data_api: LocalDataApi) -> None:
    data_api.reject_next("primary", 1, code="ThrottlingException")
    client = data_api.client(retries={"mode": "standard", "total_max_attempts": 3})
    response = client.execute_statement(Sql="SELECT 1", WaitTimeSeconds=5, **CLUSTER)
    assert response["Status"] == "FINISHED"
    assert response["ResponseMetadata"]["RetryAttempts"] == 1


def test_api_calls_are_counted_per_operation(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    statement_id = redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)["Id"]
    for _ in range(3):
        redshift_data.describe_statement(Id=statement_id)
    redshift_data.list_statements()
    assert data_api.api_calls() == {
        "ExecuteStatement": 1,
        "DescribeStatement": 3,
        "ListStatements": 1,
    }
