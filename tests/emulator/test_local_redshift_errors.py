"""FAILED statements carry Redshift's wording (local.redshift_errors): first line, DETAIL block and
its code for every refusal the emulator can produce, and never PostgreSQL's own words."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from local import redshift_errors
from local.redshift_errors import POSTGRESQL_ONLY, pid_for, value_too_long
from tests.emulator.helpers import (
    CLUSTER,
    TERMINAL,
    detail_fields,
    first_line,
    params,
    run,
    wait_for,
)

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient


pytestmark = pytest.mark.integration

TABLE = (
    "CREATE TABLE t (v VARCHAR(5), c CHAR(3), d DECIMAL(5,2), s SMALLINT, i INTEGER, b BIGINT, "
    "f DOUBLE PRECISION, bo BOOLEAN, dt DATE, ts TIMESTAMP, tz TIMESTAMPTZ, j SUPER, "
    "nn INTEGER NOT NULL)"
)
INSERT = "INSERT INTO t ({column}, nn) VALUES ({value}, 1)"
VALUE_TOO_LONG = "ERROR: Value too long for character type"
ASCII_ONLY = "Only ASCII characters are allowed in fixed length strings. Invalid ASCII char: "


def insert(column: str, value: str = ":v") -> str:
    return INSERT.format(column=column, value=value)


# (sql, parameter value or None, first line, DETAIL code or None, DETAIL context or None)
Case = tuple[str, str | None, str, str | None, str | None]
REFUSALS: dict[str, Case] = {
    "varchar too long": (
        insert("v"),
        "abcdef",
        VALUE_TOO_LONG,
        "8001",
        "Value too long for type character varying(5)",
    ),
    "varchar bytes": (
        insert("v"),
        "ééé",  # 3 characters, 6 bytes
        VALUE_TOO_LONG,
        "8001",
        "Value too long for type character varying(5)",
    ),
    "char too long": (
        insert("c"),
        "abcd",
        VALUE_TOO_LONG,
        "8001",
        "Value too long for type character(3)",
    ),
    "char not ascii": (
        insert("c"),
        "é",
        "ERROR: Invalid characters:",
        "8001",
        ASCII_ONLY + "c3 a9 ",
    ),
    "decimal parameter": (
        insert("d"),
        "12345.6",
        "ERROR: Numeric data overflow (result precision)",
        "1058",
        "64 bit overflow",
    ),
    "decimal cast": (
        insert("d", "CAST('12345.6' AS DECIMAL(5,2))"),
        None,
        "ERROR: Numeric data overflow (result precision)",
        "1058",
        "64 bit overflow",
    ),
    "smallint parameter": (
        insert("s"),
        "40000",
        "ERROR: Overflow (Short valid range -32768 to 32767)",
        "1207",
        "Value: '40000', Character: '0'",
    ),
    "integer parameter": (
        insert("i"),
        "12415410808",
        "ERROR: Overflow (Integer valid range -2147483648 to 2147483647)",
        "1207",
        "Value: '12415410808', Character: '8'",
    ),
    "bigint parameter": (
        insert("b"),
        "-9223372036854775809",
        "ERROR: Overflow (Long valid range -9223372036854775808 to 9223372036854775807)",
        "1207",
        "Value: '-9223372036854775809', Character: '9'",
    ),
    "integer literal": (
        insert("i", "3000000000"),
        None,
        "ERROR: Overflow (Integer valid range -2147483648 to 2147483647)",
        "1207",
        "",
    ),
    "integer digits": (
        insert("i"),
        "2.87",
        "ERROR: Invalid digit, Value '.', Pos 1, Type: Integer ",
        "1207",
        "2.87",
    ),
    "bigint digits": (
        insert("b"),
        "20200407.0",
        "ERROR: Invalid digit, Value '.', Pos 8, Type: Long ",
        "1207",
        "20200407.0",
    ),
    "smallint digits": (
        insert("s"),
        "12x",
        "ERROR: Invalid digit, Value 'x', Pos 2, Type: Short ",
        "1207",
        "12x",
    ),
    "not null": (
        "INSERT INTO t (v) VALUES (:v)",
        "a",
        "ERROR: Cannot insert a NULL value into column nn",
        "8007",
        "",
    ),
    "invalid json": (
        insert("j", "JSON_PARSE(:v)"),
        '{"a": ',
        "ERROR: JSON parsing error",
        "8001",
        "invalid JSON",
    ),
    "duplicate json key": (
        insert("j", "JSON_PARSE(:v)"),
        '{"a": 1, "a": 2}',
        "ERROR: JSON parsing error",
        "8001",
        "duplicate key in object",
    ),
    # Without a block: Redshift's own words, which are PostgreSQL's (see local.redshift_errors).
    "smallint literal": (insert("s", "40000"), None, "ERROR: smallint out of range", None, None),
    "decimal literal": (
        insert("d", "12345.6"),
        None,
        "ERROR: numeric field overflow",
        None,
        None,
    ),
    "numeric syntax": (
        insert("d"),
        "abc",
        'ERROR: invalid input syntax for type numeric: "abc"',
        None,
        None,
    ),
    "double out of range": (
        insert("f"),
        "1e309",
        'ERROR: "1e309" is out of range for type double precision',
        None,
        None,
    ),
    "boolean syntax": (
        insert("bo"),
        "maybe",
        'ERROR: invalid input syntax for type boolean: "maybe"',
        None,
        None,
    ),
    "date out of range": (
        insert("dt"),
        "2024-13-45",
        'ERROR: date/time field value out of range: "2024-13-45"',
        None,
        None,
    ),
    "timestamp syntax": (
        insert("ts"),
        "yesterday-ish",
        'ERROR: invalid input syntax for type timestamp: "yesterday-ish"',
        None,
        None,
    ),
    "timestamptz offset": (
        insert("tz"),
        "2024-01-01 00:00:00+16:00",
        'ERROR: time zone displacement out of range: "2024-01-01 00:00:00+16:00"',
        None,
        None,
    ),
    "missing relation": (
        "INSERT INTO missing VALUES (:v)",
        "1",
        'ERROR: relation "missing" does not exist',
        None,
        None,
    ),
}


def query_of(fields: dict[str, str]) -> int:
    return int(fields["query"].partition("[")[0])


@pytest.fixture
def table(redshift_data: RedshiftDataAPIServiceClient) -> None:
    assert run(redshift_data, TABLE)["Status"] == "FINISHED"


def refused(client: RedshiftDataAPIServiceClient, sql: str, value: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {"Parameters": params(v=value)} if value is not None else {}
    described = run(client, sql, **request)
    assert described["Status"] == "FAILED", sql
    return described


# ---- the wording of each refusal -----------------------------------------------------------


@pytest.mark.usefixtures("table")
@pytest.mark.parametrize("kind", list(REFUSALS))
def test_each_refusal_has_redshifts_first_line_and_block(
    redshift_data: RedshiftDataAPIServiceClient, kind: str
) -> None:
    sql, value, first, code, context = REFUSALS[kind]
    described = refused(redshift_data, sql, value)
    error: str = described["Error"]
    assert first_line(error) == first
    fields = detail_fields(error)
    if code is None:
        assert "-----" not in error
        return
    assert (fields["code"], fields["context"]) == (code, context)
    assert f"ERROR: {fields['error']}" == first
    # The block names the statement's own query, as DescribeStatement reports it.
    assert query_of(fields) == described["RedshiftQueryId"]
    assert fields["process"].endswith("]")


@pytest.mark.usefixtures("table")
def test_the_whole_text_of_a_value_too_long(redshift_data: RedshiftDataAPIServiceClient) -> None:
    # Corpus value-too-long-jdbc2-batch-varchar256 (metabase/metabase#49147), field by field.
    described = refused(redshift_data, insert("v"), "abcdef")
    query = described["RedshiftQueryId"]
    query_line = f"{query}[child_sequence:1]" if query % 3 == 0 else str(query)
    assert described["Error"] == (
        "ERROR: Value too long for character type\n"
        "  Detail: \n"
        "  -----------------------------------------------\n"
        "  error:  Value too long for character type\n"
        "  code:      8001\n"
        "  context:   Value too long for type character varying(5)\n"
        f"  query:     {query_line}\n"
        "  location:  string.cpp:219\n"
        f"  process:   padbmaster [pid={pid_for(query)}]\n"
        "  -----------------------------------------------\n"
    )


@pytest.mark.usefixtures("table")
def test_a_decimal_literal_is_worded_as_the_developer_guide_shows(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = refused(redshift_data, insert("d", "12345.6"), None)
    assert described["Error"] == (
        "ERROR: numeric field overflow\n  Detail: The absolute value is greater than or equal "
        "to 10^3 for field with precision 5, scale 2."
    )


def test_a_cancelled_statement_names_its_query(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    # statement_timeout: Redshift reports it as a cancel (corpus
    # cancelled-user-request-pg8000-57014).
    response = redshift_data.batch_execute_statement(
        Sqls=["SET statement_timeout = 10", "SELECT pg_sleep(2)"], **CLUSTER
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    sleeper = described["SubStatements"][1]
    assert described["Status"] == "FAILED"
    assert described["Error"] == (
        f"ERROR: Query ({sleeper['RedshiftQueryId']}) cancelled on user's request"
    )


def test_a_serialization_failure_is_1023_with_its_detail(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    described = run(
        redshift_data,
        "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$",
    )
    assert described["Error"] == redshift_errors.serializable(described["RedshiftQueryId"])
    head, _, detail = described["Error"].partition("\n  Detail: ")
    assert head == "ERROR: 1023"
    assert detail.startswith("Serializable isolation violation on table - ")
    assert ", transactions forming the cycle are: " in detail
    assert detail.endswith(f"(pid:{pid_for(described['RedshiftQueryId'])})")


def test_permission_denied_names_a_relation(redshift_data: RedshiftDataAPIServiceClient) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"
    response = redshift_data.batch_execute_statement(
        Sqls=[
            f"CREATE ROLE {role}",
            "CREATE TABLE secret (a INT)",
            f"SET ROLE {role}",
            "SELECT * FROM secret",
        ],
        **CLUSTER,
    )
    described = wait_for(redshift_data, response["Id"], TERMINAL)
    # The batch rolled back: the role is gone again.
    assert described["Error"] == "ERROR: permission denied for relation secret"


def test_a_syntax_error_carries_its_position(redshift_data: RedshiftDataAPIServiceClient) -> None:
    described = run(redshift_data, "SELECT 1 FROM")
    assert described["Error"] == "ERROR: syntax error at end of input\n  Position: 14"


# ---- the numbers in the blocks ---------------------------------------------------------------


@pytest.mark.usefixtures("table")
def test_query_ids_repeat_run_after_run_and_reach_1023(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    # The emulator numbers queries from 1000 after each reset: the CREATE TABLE was 1000.
    for _ in range(22):
        run(redshift_data, "SELECT 1")
    described = refused(redshift_data, insert("v"), "abcdef")
    assert described["RedshiftQueryId"] == 1023
    fields = detail_fields(described["Error"])
    assert query_of(fields) == 1023
    assert first_line(described["Error"]) == VALUE_TOO_LONG  # a value error, not error 1023


def test_pids_vary_and_are_sometimes_1023() -> None:
    pids = [pid_for(query) for query in range(1000, 1100)]
    assert pids.count(1023) == 20
    assert len(set(pids)) > 50
    assert value_too_long("character(3)", 1042) == value_too_long("character(3)", 1042)
    assert "pid=1023" in value_too_long("character(3)", 1003)
    assert "[child_sequence:1]" in value_too_long("character(3)", 1005)


def test_the_parameterised_failure_default_names_query_1023() -> None:
    error = redshift_errors.parameterised_value_error()
    assert first_line(error) == VALUE_TOO_LONG
    assert query_of(detail_fields(error)) == 1023


# ---- PostgreSQL's own words never reach the caller -----------------------------------------


@pytest.mark.usefixtures("table")
def test_no_failed_statement_carries_postgresql_only_words(
    redshift_data: RedshiftDataAPIServiceClient,
) -> None:
    errors = [refused(redshift_data, sql, value)["Error"] for sql, value, *_ in REFUSALS.values()]
    # The same refusals inside a batch, as the sub-statement and the batch report them.
    for sql, value, *_ in REFUSALS.values():
        request: dict[str, Any] = {"Parameters": params(v=value)} if value is not None else {}
        response = redshift_data.batch_execute_statement(
            Sqls=["SELECT 1", sql], **CLUSTER, **request
        )
        described = wait_for(redshift_data, response["Id"], TERMINAL)
        errors += [described["Error"], described["SubStatements"][1]["Error"]]
    cancelled = redshift_data.batch_execute_statement(
        Sqls=["SET statement_timeout = 10", "SELECT pg_sleep(2)"], **CLUSTER
    )
    errors.append(wait_for(redshift_data, cancelled["Id"], TERMINAL)["Error"])
    errors.append(
        run(
            redshift_data,
            "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; "
            "END $$",
        )["Error"]
    )
    # Case matters: Redshift's block says "Value too long for type character varying(5)"
    # where PostgreSQL's message says "value too long for type character varying(5)".
    for error in errors:
        for words in POSTGRESQL_ONLY:
            assert words not in error, (words, error)
