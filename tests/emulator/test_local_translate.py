"""Redshift -> PostgreSQL translation: parameters, DDL, each statement shape run for real."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local.model import ServiceConfig
from local.redshift_ddl import translate_ddl
from local.redshift_errors import value_too_long
from local.stack import LocalDataApi
from local.translate import translate

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_redshift_data.type_defs import SqlParameterTypeDef

pytestmark = pytest.mark.integration

CLUSTER: dict[str, Any] = {"ClusterIdentifier": "primary", "DbUser": "awsuser", "Database": "dev"}
DDL = (Path(__file__).parents[2] / "sql" / "create_table.sql").read_text()
TABLE = '"public"."appsflyer_events"'
COLUMN = re.compile(r'^\s+"(\w+)" (VARCHAR|TIMESTAMP|BOOLEAN|DECIMAL|SUPER)', re.MULTILINE)


def run(client: RedshiftDataAPIServiceClient, sql: str, **kw: Any) -> dict[str, Any]:
    response = client.execute_statement(Sql=sql, WaitTimeSeconds=30, **CLUSTER, **kw)
    assert response["Status"] in ("FINISHED", "FAILED"), response["Status"]
    return dict(client.describe_statement(Id=response["Id"]))


def params(values: dict[str, str]) -> list[SqlParameterTypeDef]:
    return [{"name": name, "value": value} for name, value in values.items()]


# ---- parameters (no database needed) --------------------------------------------------------


def test_placeholders_become_one_bind_per_occurrence() -> None:
    sql, args = translate("SELECT :a, :b, :a").bind({"a": "1", "b": "2"})
    assert (sql, args) == ("SELECT $1, $2, $3", ["1", "2", "1"])


def test_what_is_not_a_placeholder() -> None:
    sql = (
        "SELECT ':a', E'\\':a', \":a\", $$ :a $$, $t$ :a $t$, x::int, "
        "y::timestamp -- :a\n /* :a */ , :real"
    )
    assert translate(sql).names == ("real",)


def test_placeholders_without_values_stay_as_written() -> None:
    assert translate("SELECT :a, :b").bind({"a": "1"}) == ("SELECT $1, :b", ["1"])


def test_translations_are_cached() -> None:
    sql = "SELECT :cached_shape"
    assert translate(sql) is translate(sql)


def test_redshift_only_ddl_is_dropped() -> None:
    out = translate_ddl(
        "CREATE TABLE t (a INT ENCODE az64 DISTKEY SORTKEY, b SUPER, c TEXT, d VARCHAR(MAX), "
        "e VARCHAR, \"sortkey (x)\" VARCHAR(5) DEFAULT 'distkey', f TIMESTAMP DEFAULT GETDATE()) "
        'BACKUP NO DISTSTYLE KEY DISTKEY (a) COMPOUND SORTKEY (a, "sortkey (x)")'
    )
    for word in ("ENCODE", "DISTSTYLE", "DISTKEY", "SORTKEY", "BACKUP", "TEXT", "GETDATE"):
        assert re.search(rf"\b{word}\b", out) is None, word
    # Quoted names and literals that look like the attributes are left alone.
    assert out.count('"sortkey (x)"') == 2  # the column and its byte-length check
    assert "'distkey'" in out
    assert "b SUPER" in out  # the `super` domain over jsonb, so that the catalog says "super"
    assert "c VARCHAR(256) CONSTRAINT" in out
    assert "d VARCHAR(65535) CONSTRAINT" in out
    assert "e VARCHAR(256) CONSTRAINT" in out
    assert 'OCTET_LENGTH("sortkey (x)") <= 5' in out


# ---- each statement shape, executed ------------------------------------------------------------


def test_the_table_ddl_creates_the_table(data_api: LocalDataApi) -> None:
    data_api.execute_ddl("primary", "dev", DDL)
    with data_api.connect("primary", "dev") as conn:
        columns: dict[str, str] = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'appsflyer_events'"
            ).fetchall()
        )
    assert len(columns) == len(COLUMN.findall(DDL))
    assert columns["event_value"] == columns["extra"] == "jsonb"
    assert columns["event_revenue"] == "numeric"
    assert columns["user_agent"] == "character varying"
    assert columns["ingested_at"] == "timestamp without time zone"


def test_the_table_ddl_also_runs_through_the_api(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    described = run(redshift_data, DDL)
    assert described["Status"] == "FINISHED", described.get("Error")
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT to_regclass('public.appsflyer_events')").fetchone() == (
            "appsflyer_events",
        )


def test_multi_row_insert_with_every_value_shape(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.execute_ddl("primary", "dev", DDL)
    sql = (
        f'INSERT INTO {TABLE} ("appsflyer_id","event_name","event_time","customer_user_id",'
        '"city","wifi","is_lat","event_revenue","event_value","sqs_message_id","extra") VALUES '
        "(:p0,:p1,CAST(:p2 AS TIMESTAMP),NULL,'',TRUE,FALSE,CAST(:p3 AS DECIMAL(18,6)),"
        "JSON_PARSE(:p4),:p5,NULL),"
        "(:p0,:p1,CAST(:p6 AS TIMESTAMP),:p7,NULL,FALSE,NULL,NULL,NULL,:p8,JSON_PARSE(:p9))"
    )
    values = {
        "p0": "1700000000000-1234567",  # used in both rows
        "p1": "af_purchase",
        "p2": "2024-05-01 12:34:56.789",
        "p3": "4.99",
        "p4": '{"af_revenue": "4.99"}',
        "p5": "msg-1",
        "p6": "2024-05-01T12:00:00Z",
        "p7": "null",  # the string, not NULL: the Data API has no NULL parameters
        "p8": "msg-2",
        "p9": '{"unknown_field": [1, 2]}',
    }
    described = run(redshift_data, sql, Parameters=params(values))
    assert (described["Status"], described["ResultRows"]) == ("FINISHED", 2)
    with data_api.connect("primary", "dev") as conn:
        rows = conn.execute(
            "SELECT appsflyer_id, event_time::text, customer_user_id, city, wifi, is_lat, "
            "event_revenue::text, event_value, extra, ingested_at IS NOT NULL "
            f"FROM {TABLE} ORDER BY sqs_message_id"
        ).fetchall()
    assert rows == [
        (
            "1700000000000-1234567",
            "2024-05-01 12:34:56.789",
            None,
            "",
            True,
            False,
            "4.990000",
            {"af_revenue": "4.99"},
            None,
            True,
        ),
        (
            "1700000000000-1234567",
            "2024-05-01 12:00:00",
            "null",
            None,
            False,
            None,
            None,
            None,
            {"unknown_field": [1, 2]},
            True,
        ),
    ]


def test_a_full_width_insert_of_many_rows(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # The handler's shape at scale: every column a parameter, ~10,000 parameters.
    data_api.execute_ddl("primary", "dev", DDL)
    columns = COLUMN.findall(DDL)
    wrap = {
        "VARCHAR": "{}",
        "TIMESTAMP": "CAST({} AS TIMESTAMP)",
        "BOOLEAN": "{}",
        "DECIMAL": "CAST({} AS DECIMAL(18,6))",
        "SUPER": "JSON_PARSE({})",
    }
    sample = {
        "VARCHAR": "v",
        "TIMESTAMP": "2024-05-01 12:34:56",
        "BOOLEAN": "true",
        "DECIMAL": "1.5",
        "SUPER": "{}",
    }
    values: dict[str, str] = {}
    rows = []
    for row in range(75):
        cells = []
        for name, kind in columns:
            key = f"p{len(values)}"
            values[key] = f"{row}-{name}"[:10] if kind == "VARCHAR" else sample[kind]
            cells.append(wrap[kind].format(f":{key}"))
        rows.append(f"({','.join(cells)})")
    names = ",".join(f'"{name}"' for name, _ in columns)
    sql = f"INSERT INTO {TABLE} ({names}) VALUES {','.join(rows)}"
    assert len(sql.encode()) <= ServiceConfig().max_query_bytes

    started = time.monotonic()
    described = run(redshift_data, sql, Parameters=params(values))
    elapsed = time.monotonic() - started

    assert (described["Status"], described["ResultRows"]) == ("FINISHED", 75), described
    print(f"{len(values)} parameters in {elapsed:.3f}s")
    with data_api.connect("primary", "dev") as conn:
        counts = conn.execute(f"SELECT count(*), count(DISTINCT sqs_message_id) FROM {TABLE}")
        assert counts.fetchone() == (75, 75)


def test_select_with_parameters(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.execute_ddl("primary", "dev", DDL)
    with data_api.connect("primary", "dev") as conn:
        conn.execute(
            f"INSERT INTO {TABLE} (appsflyer_id, event_name, event_time, sqs_message_id) VALUES "
            "('a', 'install', '2024-05-01', 'm1'), ('a', 'purchase', '2024-05-02', 'm2'), "
            "('b', 'install', '2024-05-03', 'm3')"
        )
    described = run(
        redshift_data,
        f"SELECT event_name, COUNT(*) AS n FROM {TABLE} WHERE appsflyer_id = :id "
        "AND event_time >= CAST(:since AS TIMESTAMP) GROUP BY event_name ORDER BY event_name",
        Parameters=params({"id": "a", "since": "2024-05-01 12:00:00"}),
    )
    records = redshift_data.get_statement_result(Id=described["Id"])["Records"]
    assert records == [[{"stringValue": "purchase"}, {"longValue": 1}]]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a" * 255, True),
        ("a" * 256, False),
        ("é" * 127, True),  # 254 bytes
        ("é" * 128, False),  # 128 characters, 256 bytes
        ("😀" * 63, True),  # 252 bytes
        ("😀" * 64, False),  # 64 characters, 256 bytes
    ],
)
def test_varchar_counts_bytes(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, value: str, ok: bool
) -> None:
    data_api.execute_ddl("primary", "dev", DDL)
    described = run(
        redshift_data,
        f'INSERT INTO {TABLE} ("appsflyer_id","event_name","event_time","sqs_message_id") '
        "VALUES (:id, 'e', CAST(:t AS TIMESTAMP), 'm')",
        Parameters=params({"id": value, "t": "2024-05-01 00:00:00"}),
    )
    if ok:
        assert described["Status"] == "FINISHED"
    else:
        assert described["Status"] == "FAILED"
        assert described["Error"] == value_too_long(
            "character varying(255)", described["RedshiftQueryId"]
        )


def test_text_is_varchar_256_bytes(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (user_agent TEXT)")
    insert = "INSERT INTO t VALUES (:v)"
    assert run(redshift_data, insert, Parameters=params({"v": "a" * 256}))["Status"] == "FINISHED"
    described = run(redshift_data, insert, Parameters=params({"v": "a" * 257}))
    assert described["Error"] == value_too_long(
        "character varying(256)", described["RedshiftQueryId"]
    )


def test_invalid_json_fails_the_statement(redshift_data: RedshiftDataAPIServiceClient) -> None:
    described = run(redshift_data, "SELECT JSON_PARSE(:j)", Parameters=params({"j": "{nope"}))
    assert described["Status"] == "FAILED"
    assert "json" in described["Error"].lower()
