"""Each target's table, read from its own catalog: at first use, after SCHEMA_REFRESH_SECONDS,
and at once when a statement fails in a way a changed table could explain.

Why a catalog query rather than the Data API's DescribeTable: it runs through the same bounded,
retried, named statement path as every INSERT (deadlines, lost replies, orphans), one statement
returns exactly the four facts needed, and DescribeTable's Schema and Table arguments are
patterns in which `_` matches any character (`appsflyer_events` also matches
`appsflyerXevents`). pg_attribute, pg_class, pg_namespace and format_type are PostgreSQL's
catalog, which Redshift keeps and the local Data API answers natively.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest.config import Roles, Target
from ingest.deadline import Deadlines
from ingest.layout import SchemaError, TableLayout, build_layout
from ingest.row_reader import RowReader
from ingest.schema import TableSchema, column_from_catalog
from ingest.sql import InsertRenderer, Limits
from ingest.statement_runner import SelectFailed, StatementRunner, StatementStats

CATALOG_QUERY = (
    "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
    "a.atthasdef "
    "FROM pg_catalog.pg_attribute AS a "
    "JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relname = :table AND a.attnum > 0 AND NOT a.attisdropped "
    "ORDER BY a.attnum"
)


class SchemaUnavailable(Exception):
    """The target did not say what its table looks like: its rows come back for a retry."""

    def __init__(
        self, reason: str, unconfirmed: tuple[str, ...] = (), stats: StatementStats | None = None
    ) -> None:
        super().__init__(reason)
        self.unconfirmed = unconfirmed
        self.stats = stats or StatementStats()


@dataclass(frozen=True)
class TargetTable:
    """One target's table as last read, with what writing to it needs."""

    layout: TableLayout
    reader: RowReader
    renderer: InsertRenderer
    read_at: float  # monotonic seconds


def _flag(text: str | None) -> bool:
    return (text or "").lower() in ("true", "t", "1")


def read_schema(
    runner: StatementRunner, target: Target, table: str, deadlines: Deadlines
) -> tuple[TableSchema, StatementStats]:
    schema_name, table_name = table.split(".")
    try:
        rows, stats = runner.select(
            target, CATALOG_QUERY, (("schema", schema_name), ("table", table_name)), deadlines
        )
    except SelectFailed as failed:
        raise SchemaUnavailable(
            f"cannot read the table's columns: {failed.reason}", failed.unconfirmed, failed.stats
        ) from failed
    columns = tuple(
        column_from_catalog(
            str(name), str(type_text), not_null=_flag(not_null), has_default=_flag(has_default)
        )
        for name, type_text, not_null, has_default in rows
    )
    return TableSchema(table, columns), stats


class TargetTables:
    """The tables of every target, read lazily and kept for SCHEMA_REFRESH_SECONDS.

    Shared by the invocation's per-target threads; each target's entry is its own.
    """

    def __init__(
        self,
        runner: StatementRunner,
        *,
        table: str,
        roles: Roles,
        limits: Limits,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, TableLayout | None, TableLayout], None] | None = None,
    ) -> None:
        self._runner = runner
        self._table = table
        self._roles = roles
        self._limits = limits
        self._refresh = refresh_seconds
        self._clock = clock
        self._on_change = on_change
        self._tables: dict[str, TargetTable] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, StatementStats] = {}  # what reading cost, per target

    def now(self) -> float:
        return self._clock()

    def table_for(self, target: Target, deadlines: Deadlines) -> TargetTable:
        """The target's table, read again when older than the refresh interval.

        Raises SchemaUnavailable (the rows come back) or SchemaError (misconfiguration).
        """
        with self._lock:
            known = self._tables.get(target.name)
        if known is not None and self._clock() - known.read_at < self._refresh:
            return known
        return self._read(target, deadlines, known)

    def changed(self, target: Target, deadlines: Deadlines) -> bool:
        """Read the table again now; True when it differs from what the writer was using."""
        with self._lock:
            known = self._tables.get(target.name)
        try:
            fresh = self._read(target, deadlines, known)
        except SchemaUnavailable:
            return False  # the failure is judged as it was; the next refresh tries again
        return known is None or fresh.layout.schema != known.layout.schema

    def _read(self, target: Target, deadlines: Deadlines, known: TargetTable | None) -> TargetTable:
        schema, stats = read_schema(self._runner, target, self._table, deadlines)
        with self._lock:
            self.stats[target.name] = self.stats.get(target.name, StatementStats()) + stats
        if known is not None and known.layout.schema == schema:
            entry = TargetTable(known.layout, known.reader, known.renderer, self._clock())
        else:
            try:
                layout = build_layout(schema, self._roles, target.name)
            except SchemaError as unusable:
                if known is None:
                    raise  # at cold start: misconfiguration fails fast, naming the setting
                # The table changed into one the function cannot write (dropped, say): this
                # target's records come back until an operator acts; others are unaffected.
                raise SchemaUnavailable(str(unusable), (), stats) from unusable
            entry = TargetTable(
                layout, RowReader(layout), InsertRenderer(layout, self._limits), self._clock()
            )
            if self._on_change is not None:
                self._on_change(target.name, known.layout if known else None, layout)
        with self._lock:
            self._tables[target.name] = entry
        return entry

    def take_stats(self, target: str) -> StatementStats:
        """What reading this target's table cost since last asked (for its metrics)."""
        with self._lock:
            return self.stats.pop(target, StatementStats())
