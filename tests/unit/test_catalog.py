"""Each target's table read from its catalog: the one query, its parsing, the cache and its
refresh, and a changed table noticed."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Unpack

import boto3
import pytest

from ingest.catalog import CATALOG_QUERY, SchemaUnavailable, TargetTables
from ingest.config import Settings, Target
from ingest.deadline import Deadlines
from ingest.layout import SchemaError, TableLayout
from ingest.ports import GetStatementResultRequest, StatementResultPage
from ingest.schema import Column, ColumnKind
from ingest.wiring import Clients, Timing, build_ingest, deadlines_for
from local.appsflyer import appsflyer_schema
from tests.unit.fakes import FakeClock, FakeDataApi
from tests.unit.orders import ORDER_ROLES, ORDERS

PRIMARY = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")
SECONDARY = Target(name="secondary", database="dev", workgroup_name="wg2")
SETTINGS = Settings(
    targets=(PRIMARY, SECONDARY),
    table="public.appsflyer_events",
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
)


@dataclass
class Catalog:
    fake: FakeDataApi
    clock: FakeClock
    tables: TargetTables
    changes: list[tuple[str, TableLayout | None, TableLayout]]

    def deadlines(self) -> Deadlines:
        return deadlines_for(SETTINGS, 120, Timing(self.clock, self.clock.sleep))


def catalog(fake: FakeDataApi | None = None, settings: Settings = SETTINGS) -> Catalog:
    fake = fake or FakeDataApi()
    clock = FakeClock()
    changes: list[tuple[str, TableLayout | None, TableLayout]] = []
    ingest = build_ingest(
        settings,
        Clients(fake, fake, boto3.client("sqs", region_name="us-east-1")),  # never called
        Timing(clock, clock.sleep, seed=1),
        on_table_change=lambda target, before, after: changes.append((target, before, after)),
    )
    return Catalog(fake, clock, ingest.tables, changes)


def test_the_query_is_the_one_decided_with_values_as_parameters() -> None:
    # The decision's SQL, word for word (whitespace aside)
    decided = """
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
        a.atthasdef
        FROM pg_catalog.pg_attribute AS a
        JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = :schema AND c.relname = :table AND a.attnum > 0
        AND NOT a.attisdropped
        ORDER BY a.attnum
    """
    assert re.sub(r"\s+", " ", decided).strip() == CATALOG_QUERY
    world = catalog()
    world.tables.table_for(PRIMARY, world.deadlines())
    [statement] = world.fake.statements
    # The schema and table travel as parameters, through the named statement path
    assert statement.parameters == {"schema": "public", "table": "appsflyer_events"}
    assert statement.name.startswith(SETTINGS.statement_name_prefix)


def test_the_table_is_what_the_catalog_says() -> None:
    settings = replace(SETTINGS, table=ORDERS.table, roles=ORDER_ROLES)
    world = catalog(FakeDataApi(table=ORDERS), settings)
    table = world.tables.table_for(PRIMARY, world.deadlines())
    assert table.layout.schema == ORDERS
    assert table.reader.layout is table.layout
    assert table.renderer.layout is table.layout


class _BooleanFlags(FakeDataApi):
    """Answers the catalog's NOT NULL and has-default flags as the Data API types them."""

    def get_statement_result(
        self, **request: Unpack[GetStatementResultRequest]
    ) -> StatementResultPage:
        page = super().get_statement_result(**request)
        records: list[list[Any]] = [
            [*row[:2], *({"booleanValue": cell.get("stringValue") == "true"} for cell in row[2:])]
            for row in page["Records"]
        ]
        return {"Records": records}


@pytest.mark.parametrize("fake", [FakeDataApi(), _BooleanFlags()], ids=["text", "boolean"])
def test_not_null_and_default_flags_are_read_as_text_or_booleans(fake: FakeDataApi) -> None:
    world = catalog(fake)
    schema = world.tables.table_for(PRIMARY, world.deadlines()).layout.schema
    assert schema == appsflyer_schema()
    assert [c.name for c in schema.columns if c.required] == [
        "appsflyer_id",
        "event_name",
        "event_time",
        "sqs_message_id",
    ]
    assert [c.name for c in schema.columns if c.has_default] == ["ingested_at"]


def test_each_target_has_its_own_table() -> None:
    narrow = replace(
        appsflyer_schema(),
        columns=tuple(
            replace(c, size=8, type_text="character varying(8)") if c.name == "city" else c
            for c in appsflyer_schema().columns
        ),
    )
    world = catalog(FakeDataApi(tables={"wg2": narrow}))
    primary = world.tables.table_for(PRIMARY, world.deadlines())
    secondary = world.tables.table_for(SECONDARY, world.deadlines())
    assert primary.layout.schema == appsflyer_schema()
    assert secondary.layout.schema == narrow
    assert [target for target, _, _ in world.changes] == ["primary", "secondary"]


# ---- the cache and its refresh -----------------------------------------------------------------


def test_a_table_is_read_once_then_again_after_the_refresh_interval() -> None:
    world = catalog()
    first = world.tables.table_for(PRIMARY, world.deadlines())
    world.clock.sleep(SETTINGS.schema_refresh_seconds - 1)
    assert world.tables.table_for(PRIMARY, world.deadlines()) is first
    assert world.fake.catalog_reads() == 1
    world.clock.sleep(1)
    again = world.tables.table_for(PRIMARY, world.deadlines())
    assert world.fake.catalog_reads() == 2
    # Unchanged: the same layout, reader and renderer (their compiled constants) are kept
    assert (again.layout, again.reader, again.renderer) == (
        first.layout,
        first.reader,
        first.renderer,
    )
    assert again.reader is first.reader
    assert [(t, before) for t, before, _ in world.changes] == [("primary", None)]


def test_a_changed_table_gets_a_new_layout_and_is_reported() -> None:
    world = catalog()
    first = world.tables.table_for(PRIMARY, world.deadlines())
    coupon = Column("coupon", ColumnKind.VARCHAR, size=20, type_text="character varying(20)")
    world.fake.table = replace(appsflyer_schema(), columns=(*appsflyer_schema().columns, coupon))
    world.clock.sleep(SETTINGS.schema_refresh_seconds)
    again = world.tables.table_for(PRIMARY, world.deadlines())
    assert again.layout.schema.column("coupon") == coupon
    assert again.reader is not first.reader
    [(_, none, initial), (target, before, after)] = world.changes
    assert (none, initial) == (None, first.layout)
    assert (target, before, after) == ("primary", first.layout, again.layout)


def test_changed_reads_the_table_at_once_and_says_whether_it_differs() -> None:
    world = catalog()
    world.tables.table_for(PRIMARY, world.deadlines())
    # Unchanged: False, though read again at once (no refresh interval waited for)
    assert world.tables.changed(PRIMARY, world.deadlines()) is False
    assert world.fake.catalog_reads() == 2
    # Changed: True, and the next table_for answers with the new table without reading again
    without_city = replace(
        appsflyer_schema(),
        columns=tuple(c for c in appsflyer_schema().columns if c.name != "city"),
    )
    world.fake.table = without_city
    assert world.tables.changed(PRIMARY, world.deadlines()) is True
    assert world.tables.table_for(PRIMARY, world.deadlines()).layout.schema == without_city
    assert world.fake.catalog_reads() == 3


def test_changed_is_false_when_the_table_cannot_be_read() -> None:
    world = catalog()
    world.tables.table_for(PRIMARY, world.deadlines())
    world.fake.fail_all_error = "permission denied for relation pg_attribute"
    # The failure is judged as it was; nothing is re-read as changed
    assert world.tables.changed(PRIMARY, world.deadlines()) is False


# ---- failures ----------------------------------------------------------------------------------


def test_a_catalog_the_target_will_not_answer_is_schema_unavailable() -> None:
    world = catalog(FakeDataApi(fail_all_error="permission denied for relation pg_attribute"))
    with pytest.raises(SchemaUnavailable) as raised:
        world.tables.table_for(PRIMARY, world.deadlines())
    assert str(raised.value) == (
        "cannot read the table's columns: FAILED: permission denied for relation pg_attribute"
    )
    assert raised.value.stats.submitted == 1
    assert world.changes == []


def test_a_table_the_function_cannot_write_is_a_schema_error_not_cached() -> None:
    shape = Column("shape", ColumnKind.UNSUPPORTED, not_null=True, type_text="geometry")
    world = catalog(
        FakeDataApi(table=replace(appsflyer_schema(), columns=(*appsflyer_schema().columns, shape)))
    )
    for _ in range(2):  # each invocation asks again: the table may have been fixed meanwhile
        with pytest.raises(SchemaError, match="column shape has type geometry"):
            world.tables.table_for(PRIMARY, world.deadlines())
    assert world.fake.catalog_reads() == 2


def test_a_table_that_does_not_exist_names_the_setting_to_check() -> None:
    world = catalog(FakeDataApi(table=replace(appsflyer_schema(), columns=())))
    with pytest.raises(
        SchemaError, match="has no columns the function can see: check TARGET_TABLE"
    ):
        world.tables.table_for(PRIMARY, world.deadlines())


def test_what_reading_cost_is_reported_once_per_target() -> None:
    world = catalog()
    world.tables.table_for(PRIMARY, world.deadlines())
    assert world.tables.take_stats("primary").submitted == 1
    assert world.tables.take_stats("primary").submitted == 0
    assert world.tables.take_stats("secondary").submitted == 0
