"""The column declaration: faithful to the original table, and the committed DDL never drifts."""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.schema import (
    INSERT_COLUMNS,
    PAYLOAD_COLUMNS,
    ColumnKind,
    render_create_table,
)

ROOT = Path(__file__).resolve().parents[2]
# The original system's `appsflyer_events` columns (name and Redshift type), as its owners
# handed them over; kept here because the project's declaration must stay faithful to them.
ORIGINAL = ROOT / "tests" / "data" / "appsflyer_columns.tsv"


def original_columns() -> list[tuple[str, str]]:
    with ORIGINAL.open(newline="") as handle:
        return [(r["column"], r["redshift_type"]) for r in csv.DictReader(handle, delimiter="\t")]


def test_committed_ddl_is_generated_from_the_schema() -> None:
    committed = (ROOT / "sql" / "create_table.sql").read_text()
    assert committed == render_create_table("public.appsflyer_events"), "run `make ddl`"


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
    ddl = render_create_table("public.appsflyer_events")
    assert '"ingested_at" TIMESTAMP NOT NULL DEFAULT GETDATE()' in ddl
    assert '"extra" SUPER,' in ddl
    assert "TEXT" not in ddl


def test_required_columns() -> None:
    required = [c.name for c in INSERT_COLUMNS if c.required]
    assert required == ["appsflyer_id", "event_name", "event_time", "sqs_message_id"]
