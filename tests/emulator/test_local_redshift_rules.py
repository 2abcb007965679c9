"""What Redshift refuses, the local Data API refuses, with Redshift's words (issue 13).

Each test here passed nothing that Redshift would refuse before: against the older emulator,
which let all of these through or worded them as PostgreSQL does, every one of them fails.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from local.databases import DdlRefusedError
from local.stack import LocalDataApi
from tests.emulator.helpers import CLUSTER, Expected, assert_error, error_of, params, run

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

pytestmark = pytest.mark.integration

JSON_ERROR = "ERROR: JSON parsing error"


def json_parse(client: RedshiftDataAPIServiceClient, document: str) -> dict[str, Any]:
    return run(client, "SELECT JSON_PARSE(:doc) AS doc", Parameters=params(doc=document))


# ---- SUPER ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ('{"a": 1, "a": 2}', "duplicate key in object"),
        ('{"outer": [{"k": "x", "k": "y"}]}', "duplicate key in object"),  # nested
        (json.dumps({"extra": "é" * 32_768}), "string value exceeds 65535 bytes"),  # 65,536 B
        (json.dumps(["x" * 70_000]), "string value exceeds 65535 bytes"),
        ("[" * 1001 + "]" * 1001, "nesting depth exceeds 1000"),
        ('{"a": ', "invalid JSON"),
    ],
)
def test_json_parse_refuses_what_super_cannot_hold(
    redshift_data: RedshiftDataAPIServiceClient, document: str, detail: str
) -> None:
    described = json_parse(redshift_data, document)
    assert described["Status"] == "FAILED"
    assert_error(described["Error"], (JSON_ERROR, "8001", detail))


@pytest.mark.parametrize(
    "document",
    [
        '{"a": 1, "b": {"a": 2}}',  # the same key in different objects is fine
        json.dumps({"s": "x" * 65_535}),  # at the limit
        json.dumps({"s": "é" * 32_767}),  # 65,534 bytes
        "[" * 1000 + "]" * 1000,
        '"just a string"',
    ],
)
def test_json_parse_accepts_what_super_holds(
    redshift_data: RedshiftDataAPIServiceClient, document: str
) -> None:
    described = json_parse(redshift_data, document)
    assert described["Status"] == "FINISHED"
    stored = redshift_data.get_statement_result(Id=described["Id"])["Records"][0][0]["stringValue"]
    if document.startswith("[["):  # deeper than Python's json module goes
        assert stored == document
    else:
        assert json.loads(stored) == json.loads(document)


def test_one_bad_super_value_fails_the_whole_multi_row_insert(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (id INT, doc SUPER)")
    described = run(
        redshift_data,
        "INSERT INTO t VALUES (1, JSON_PARSE(:good)), (2, JSON_PARSE(:bad))",
        Parameters=params(good='{"a": 1}', bad='{"a": 1, "a": 2}'),
    )
    assert described["Status"] == "FAILED"
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


# ---- targets -------------------------------------------------------------------------------

ENDPOINT_MISSING = ("ValidationException", "Redshift endpoint doesn't exist in this region.")


@pytest.mark.parametrize(
    "target",
    [
        {"ClusterIdentifier": "primary-typo", "DbUser": "awsuser"},
        {"WorkgroupName": "nowhere"},
        {"WorkgroupName": "primary"},  # a cluster named as a workgroup
        {"ClusterIdentifier": "serverless", "DbUser": "awsuser"},  # and the other way round
    ],
)
def test_a_target_that_does_not_exist_is_refused_at_submit(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, target: dict[str, str]
) -> None:
    named: dict[str, Any] = {"Database": "dev", **target}
    assert error_of(lambda: redshift_data.execute_statement(Sql="SELECT 1", **named)) == (
        ENDPOINT_MISSING
    )
    assert (
        error_of(lambda: redshift_data.batch_execute_statement(Sqls=["SELECT 1"], **named))
        == ENDPOINT_MISSING
    )
    assert redshift_data.list_statements()["Statements"] == []


def test_a_database_that_does_not_exist_fails_the_statement(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(redshift_data, "SELECT 1", {**CLUSTER, "Database": "devv"})
    assert (described["Status"], described["Error"]) == (
        "FAILED",
        'FATAL: database "devv" does not exist',
    )
    # The databases a target was declared with are there.
    assert run(redshift_data, "SELECT 1", {**CLUSTER, "Database": "analytics"})["Status"] == (
        "FINISHED"
    )


def test_test_helpers_refuse_undeclared_targets(data_api: LocalDataApi) -> None:
    with pytest.raises(ValueError, match="not declared"):
        data_api.connect("primary-typo", "dev")
    with pytest.raises(ValueError, match="no database"):
        data_api.execute_ddl("primary", "devv", "CREATE TABLE t (a INT)")


# ---- constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE t (a INT CHECK (a > 0))",
        "CREATE TABLE t (a INT, CONSTRAINT positive CHECK (a > 0))",
        "ALTER TABLE t ADD CHECK (a > 0)",
    ],
)
def test_check_constraints_are_refused(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, ddl: str
) -> None:
    data_api.execute_ddl("primary", "dev", "CREATE TABLE IF NOT EXISTS t (a INT)")
    if ddl.startswith("CREATE"):
        run(redshift_data, "DROP TABLE t")
    described = run(redshift_data, ddl)
    assert (described["Status"], described["Error"]) == (
        "FAILED",
        "ERROR: CHECK constraints are not supported",
    )
    with pytest.raises(DdlRefusedError, match="CHECK constraints are not supported"):
        data_api.execute_ddl("primary", "dev", ddl)


def test_a_column_called_check_is_no_constraint(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(redshift_data, "CREATE TABLE t (\"check\" VARCHAR(5) DEFAULT 'CHECK')")
    assert described["Status"] == "FINISHED"


def test_primary_key_unique_and_foreign_keys_are_informational_only(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE parent (id INT PRIMARY KEY)")
    ddl = (
        "CREATE TABLE t (id INT PRIMARY KEY, code VARCHAR(5) UNIQUE NOT NULL, "
        "parent INT REFERENCES parent (id), UNIQUE (code, parent))"
    )
    assert run(redshift_data, ddl)["Status"] == "FINISHED"
    described = run(redshift_data, "INSERT INTO t VALUES (1, 'a', 7), (1, 'a', 7)")
    assert described["Status"] == "FINISHED"
    # NOT NULL is the one constraint Redshift enforces.
    refused = run(redshift_data, "INSERT INTO t VALUES (2, NULL, 7)")
    assert refused["Status"] == "FAILED"
    assert_error(
        refused["Error"], ("ERROR: Cannot insert a NULL value into column code", "8007", "")
    )
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


# ---- error wording -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "values", "error"),
    [
        (
            "INSERT INTO t (d) VALUES (CAST(:v AS DECIMAL(18,6)))",
            {"v": "1234567890123"},
            ("ERROR: Numeric data overflow (result precision)", "1058", "64 bit overflow"),
        ),
        (
            "INSERT INTO t (s) VALUES (CAST(:v AS SMALLINT))",
            {"v": "33000"},
            (
                "ERROR: Overflow (Short valid range -32768 to 32767)",
                "1207",
                "Value: '33000', Character: '0'",
            ),
        ),
        (
            "INSERT INTO t (s) VALUES (33000)",
            {},
            "ERROR: smallint out of range",  # a literal: the Developer Guide's example
        ),
        (
            "INSERT INTO t (v) VALUES (:v)",
            {"v": "abcdef"},
            (
                "ERROR: Value too long for character type",
                "8001",
                "Value too long for type character varying(5)",
            ),
        ),
        (
            "INSERT INTO t (d) VALUES (CAST(:v AS DECIMAL(18,6)))",
            {"v": "abc"},
            'ERROR: invalid input syntax for type numeric: "abc"',
        ),
    ],
)
def test_postgresql_errors_are_worded_as_redshift_words_them(
    redshift_data: RedshiftDataAPIServiceClient, sql: str, values: dict[str, str], error: Expected
) -> None:
    run(redshift_data, "CREATE TABLE t (d DECIMAL(18,6), s SMALLINT, v VARCHAR(5))")
    request: dict[str, Any] = {"Parameters": params(**values)} if values else {}
    described = run(redshift_data, sql, **request)
    assert described["Status"] == "FAILED"
    assert_error(described["Error"], error)


def test_a_serialization_failure_is_redshifts_error_1023(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    # A real PostgreSQL serialization failure (SQLSTATE 40001), raised in place of the
    # concurrent-writer race that READ COMMITTED never has.
    described = run(
        redshift_data,
        "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$",
    )
    assert described["Status"] == "FAILED"
    assert re.fullmatch(
        r"ERROR: 1023\n  Detail: Serializable isolation violation on table - \d+, "
        r"transactions forming the cycle are: \d+, \d+ \(pid:\d+\)",
        described["Error"],
    )
