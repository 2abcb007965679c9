"""Columns as a target's catalog prints them, and the worked example (local/appsflyer.py): faithful
to the original table, and the committed DDL never drifts from it."""

from __future__ import annotations

import csv
import runpy
from pathlib import Path

import pytest

from ingest.schema import (
    Column,
    ColumnKind,
    TableSchema,
    column_from_catalog,
    qualified_name,
    quote_identifier,
)
from local.appsflyer import (
    DEFAULT_TABLE,
    INSERT_COLUMNS,
    PAYLOAD_COLUMNS,
    TABLE_COLUMNS,
    appsflyer_schema,
    render_create_table,
)

ROOT = Path(__file__).resolve().parents[2]
# The original system's `appsflyer_events` columns (name and Redshift type), as its owners
# handed them over; kept here because the example's declaration must stay faithful to them.
ORIGINAL = ROOT / "tests" / "data" / "appsflyer_columns.tsv"


def original_columns() -> list[tuple[str, str]]:
    with ORIGINAL.open(newline="") as handle:
        return [(r["column"], r["redshift_type"]) for r in csv.DictReader(handle, delimiter="\t")]


# ---- the worked example: local/appsflyer.py ----------------------------------------------------


def test_committed_ddl_is_generated_from_the_example() -> None:
    committed = (ROOT / "sql" / "create_table.sql").read_text()
    assert committed == render_create_table(DEFAULT_TABLE), "run `make ddl`"


def test_make_ddl_prints_the_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    # Given `make ddl`'s entry point (python -m local.ddl > sql/create_table.sql)
    runpy.run_module("local.ddl", run_name="__main__")
    # Then what it prints is, byte for byte, the committed DDL
    assert capsys.readouterr().out == (ROOT / "sql" / "create_table.sql").read_text()


def test_payload_columns_are_the_original_tables_in_order() -> None:
    assert [c.name for c in PAYLOAD_COLUMNS] == [name for name, _ in original_columns()]


def test_types_match_except_text_which_gets_an_explicit_size() -> None:
    for column, (name, original_type) in zip(PAYLOAD_COLUMNS, original_columns(), strict=True):
        if original_type == "TEXT":
            # Redshift silently turns TEXT into VARCHAR(256): too short for agents and URLs.
            assert column.kind is ColumnKind.VARCHAR, name
            assert 1024 <= column.size <= 65535, name
        else:
            assert column.redshift_type == original_type, name


def test_pipeline_columns_follow_the_payload() -> None:
    added = [c.name for c in INSERT_COLUMNS[len(PAYLOAD_COLUMNS) :]]
    assert added == ["sqs_message_id", "extra"]
    assert [c.name for c in TABLE_COLUMNS] == [*(c.name for c in INSERT_COLUMNS), "ingested_at"]
    ddl = render_create_table(DEFAULT_TABLE)
    assert '"ingested_at" TIMESTAMP NOT NULL DEFAULT GETDATE()' in ddl
    assert '"extra" SUPER,' in ddl
    assert "TEXT" not in ddl


def test_required_columns() -> None:
    required = [c.name for c in appsflyer_schema().columns if c.required]
    # ingested_at is NOT NULL too, but has a default: no row needs to carry it.
    assert required == ["appsflyer_id", "event_name", "event_time", "sqs_message_id"]


def test_the_example_schema_is_what_the_catalog_of_its_ddl_reads_back() -> None:
    # Given every column of the example as the catalog query returns it (format_type's text)
    schema = appsflyer_schema()
    assert [c.name for c in schema.columns] == [c.name for c in TABLE_COLUMNS]
    for column in schema.columns:
        # When its catalog row is parsed as the function parses it
        parsed = column_from_catalog(
            column.name,
            column.type_text,
            not_null=column.not_null,
            has_default=column.has_default,
        )
        # Then it is the declared column, type text included
        assert parsed == column, column.name
        assert parsed.kind is not ColumnKind.UNSUPPORTED


# ---- column_from_catalog: every spelling format_type() prints ----------------------------------


@pytest.mark.parametrize(
    ("type_text", "kind", "size", "precision", "scale", "redshift_type"),
    [
        ("character varying(255)", ColumnKind.VARCHAR, 255, 0, 0, "VARCHAR(255)"),
        ("character varying(65535)", ColumnKind.VARCHAR, 65535, 0, 0, "VARCHAR(65535)"),
        # PostgreSQL's unsized VARCHAR (Redshift always prints a size): as Redshift's default.
        ("character varying", ColumnKind.VARCHAR, 256, 0, 0, "VARCHAR(256)"),
        ("character(2)", ColumnKind.CHAR, 2, 0, 0, "CHAR(2)"),
        ("character", ColumnKind.CHAR, 1, 0, 0, "CHAR(1)"),
        ("numeric(18,6)", ColumnKind.DECIMAL, 0, 18, 6, "DECIMAL(18,6)"),
        ("numeric(38,0)", ColumnKind.DECIMAL, 0, 38, 0, "DECIMAL(38,0)"),
        ("numeric(10)", ColumnKind.DECIMAL, 0, 10, 0, "DECIMAL(10,0)"),
        ("numeric(5,5)", ColumnKind.DECIMAL, 0, 5, 5, "DECIMAL(5,5)"),
        ("smallint", ColumnKind.SMALLINT, 0, 0, 0, "SMALLINT"),
        ("integer", ColumnKind.INTEGER, 0, 0, 0, "INTEGER"),
        ("bigint", ColumnKind.BIGINT, 0, 0, 0, "BIGINT"),
        ("real", ColumnKind.REAL, 0, 0, 0, "REAL"),
        ("double precision", ColumnKind.DOUBLE, 0, 0, 0, "DOUBLE PRECISION"),
        ("boolean", ColumnKind.BOOLEAN, 0, 0, 0, "BOOLEAN"),
        ("date", ColumnKind.DATE, 0, 0, 0, "DATE"),
        ("timestamp without time zone", ColumnKind.TIMESTAMP, 0, 0, 0, "TIMESTAMP"),
        ("timestamp with time zone", ColumnKind.TIMESTAMPTZ, 0, 0, 0, "TIMESTAMPTZ"),
        ("super", ColumnKind.SUPER, 0, 0, 0, "SUPER"),
        # Case and surrounding spaces do not change the type.
        (" Character Varying(12) ", ColumnKind.VARCHAR, 12, 0, 0, "VARCHAR(12)"),
        ("BIGINT", ColumnKind.BIGINT, 0, 0, 0, "BIGINT"),
    ],
)
def test_every_format_type_spelling_of_a_written_type(
    type_text: str,
    kind: ColumnKind,
    size: int,
    precision: int,
    scale: int,
    redshift_type: str,
) -> None:
    column = column_from_catalog("c", type_text, not_null=False, has_default=False)
    assert (column.kind, column.size, column.precision, column.scale) == (
        kind,
        size,
        precision,
        scale,
    )
    assert column.redshift_type == redshift_type
    assert column.type_text == type_text  # kept as printed, for messages


@pytest.mark.parametrize(
    "type_text",
    [
        "jsonb",  # what PostgreSQL prints for a SUPER the local DDL turned into JSONB
        "json",
        "text",  # PostgreSQL's TEXT (Redshift prints its TEXT as character varying(256))
        "varbyte(64)",
        "bytea",
        "geometry",
        "geography",
        "hllsketch",
        "time without time zone",
        "time with time zone",
        "timestamp(3) without time zone",
        "interval",
        "numeric",  # unconstrained: no precision to check values against
        "character varying(abc)",
        "integer[]",
        "",
    ],
)
def test_types_the_function_cannot_write_are_unsupported_and_keep_their_name(
    type_text: str,
) -> None:
    column = column_from_catalog("shape", type_text, not_null=True, has_default=False)
    assert column.kind is ColumnKind.UNSUPPORTED
    # The name a cold-start message gives: the type as the catalog printed it.
    assert column.type_text == type_text
    assert column.redshift_type == type_text.upper()


@pytest.mark.parametrize(
    ("not_null", "has_default", "required"),
    [(False, False, False), (True, False, True), (True, True, False), (False, True, False)],
)
def test_required_means_not_null_without_a_default(
    not_null: bool, has_default: bool, required: bool
) -> None:
    column = column_from_catalog("c", "integer", not_null=not_null, has_default=has_default)
    assert (column.not_null, column.has_default, column.required) == (
        not_null,
        has_default,
        required,
    )


def test_a_schema_finds_its_columns_by_exact_name() -> None:
    schema = TableSchema("s.t", (Column("id", ColumnKind.INTEGER), Column("Name", ColumnKind.DATE)))
    assert schema.column("id") == Column("id", ColumnKind.INTEGER)
    assert schema.column("Name") is not None
    assert schema.column("name") is None  # the catalog's spelling is the column's name
    assert schema.column("missing") is None


def test_identifiers_are_quoted_and_embedded_quotes_doubled() -> None:
    assert quote_identifier("event_time") == '"event_time"'
    # A column name comes from the target's own catalog: a quote in it cannot end the name.
    assert quote_identifier('we"ird') == '"we""ird"'
    assert qualified_name("public.appsflyer_events") == '"public"."appsflyer_events"'
