"""Asks a target which redelivered records it already holds, so none is written twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.config import Target
from ingest.deadline import Deadlines
from ingest.layout import TableLayout
from ingest.names import RECORD_ID, WINDOW, parameter_name
from ingest.records import Row
from ingest.redshift import DataApi, DataApiError
from ingest.same_record import same_record_queries
from ingest.schema import qualified_name, quote_identifier
from ingest.sort_window import sort_key_window
from ingest.statement_runner import SelectFailed, StatementRunner, StatementStats

# Ids per SELECT: 500 ids of ~36 bytes keep the statement near 25 KB, far below 100 KB.
IDS_PER_QUERY = 500


class PresenceUnknown(Exception):
    """The target could not say which records it holds; writing them now could duplicate."""

    def __init__(
        self,
        reason: str,
        unconfirmed: Sequence[str] = (),
        stats: StatementStats | None = None,
        *,
        query_failed: bool = False,
    ) -> None:
        super().__init__(reason)
        self.unconfirmed = tuple(unconfirmed)
        self.stats = stats or StatementStats()
        # The SELECT ran and FAILED (a column it names may have been dropped): the writer asks
        # whether the table changed before it sends the rows back.
        self.query_failed = query_failed


@dataclass(frozen=True)
class Presence:
    held: frozenset[str]  # record ids the target holds, with this record's identifying values
    # Record ids the target holds for a *different* record (same id, other identifying values):
    # an `original_message_id` that does not name this record. Never skipped as held.
    impostors: frozenset[str]
    stats: StatementStats  # what asking cost (the SELECTs count against the quota too)

    def held_by(self, rows: Sequence[Row]) -> list[str]:
        """The message ids of `rows` whose record the target holds."""
        return [r.message_id for r in rows if r.record_id in self.held]

    def impostors_in(self, rows: Sequence[Row]) -> list[str]:
        return [r.message_id for r in rows if r.record_id in self.impostors]


def presence_query(
    layout: TableLayout, record_ids: Sequence[str], rows: Sequence[Row]
) -> tuple[str, list[tuple[str, str]]]:
    """A SELECT of the ids among `record_ids` that the table holds, beside each record's
    identifying values (layout.identity: its required text columns; AppsFlyer: appsflyer_id,
    event_name), read through the sort key's zone maps when the table has one."""
    columns = layout.columns
    id_column = quote_identifier(columns[layout.message_id_index].name)
    # Prefix-free names (names.py): m000, m001, ..., and w000/w001 for the window.
    parameters = [
        (parameter_name(i, RECORD_ID), record_id) for i, record_id in enumerate(record_ids)
    ]
    placeholders = ",".join(f":{name}" for name, _ in parameters)
    where = f"{id_column} IN ({placeholders})"
    window = sort_key_window(rows, layout.sort_key_index)
    if window is not None and layout.sort_key_index is not None:
        sort_column = quote_identifier(columns[layout.sort_key_index].name)
        low, high = parameter_name(0, WINDOW), parameter_name(1, WINDOW)
        where = (
            f"{sort_column} BETWEEN CAST(:{low} AS TIMESTAMP) AND CAST(:{high} AS TIMESTAMP) "
            f"AND {where}"
        )
        parameters += [(low, window[0]), (high, window[1])]
    selected = ",".join([id_column, *(quote_identifier(columns[i].name) for i in layout.identity)])
    # Identifiers come from configuration and the table's catalog; every value is a parameter.
    table = qualified_name(layout.table)
    return f"SELECT DISTINCT {selected} FROM {table} WHERE {where}", parameters  # noqa: S608


class TargetPresence:
    def __init__(self, api: DataApi, runner: StatementRunner) -> None:
        self._api = api
        self._runner = runner

    def held(
        self, target: Target, layout: TableLayout, rows: Sequence[Row], deadlines: Deadlines
    ) -> Presence:
        """The record ids among `rows` that `target` already holds.

        First its own orphans are cancelled: a statement of an invocation that was killed may
        still be running with these rows, and would commit after we looked.
        """
        try:
            unconfirmed = self._api.cancel_orphans(target, deadlines)
        except DataApiError as exc:
            raise PresenceUnknown(f"cannot list earlier statements: {exc}") from exc
        if unconfirmed:
            raise PresenceUnknown("an earlier statement may still be running", unconfirmed)
        found: list[list[str | None]] = []
        stats = StatementStats()
        by_id = {row.record_id: row for row in rows}
        record_ids = list(by_id)
        for start in range(0, len(record_ids), IDS_PER_QUERY):
            chunk = record_ids[start : start + IDS_PER_QUERY]
            rows_found, stats = self._ask(
                target, layout, chunk, [by_id[i] for i in chunk], deadlines, stats
            )
            found.extend(rows_found)
        held: set[str] = set()
        impostors: set[str] = set()
        for stored in found:
            row = by_id.get(str(stored[0]))
            if row is None:
                continue
            same = all(stored[k + 1] == row.values[i] for k, i in enumerate(layout.identity))
            (held if same else impostors).add(row.record_id)
        # A redriven record's id comes from whoever sent the letter: held only if the row is
        # that record in every value (same_record.py), else an impostor, never skipped.
        redriven = [by_id[i] for i in held if by_id[i].redriven]
        if redriven:
            confirmed, stats = self._same(target, layout, redriven, deadlines, stats)
            impostors |= {r.record_id for r in redriven} - confirmed
            held -= impostors
        return Presence(frozenset(held), frozenset(impostors - held), stats)

    def _same(
        self,
        target: Target,
        layout: TableLayout,
        rows: list[Row],
        deadlines: Deadlines,
        stats: StatementStats,
    ) -> tuple[set[str], StatementStats]:
        confirmed: set[str] = set()
        for sql, parameters, _asked in same_record_queries(layout, rows):
            try:
                found, spent = self._runner.select(target, sql, parameters, deadlines)
            except SelectFailed as failed:
                raise PresenceUnknown(
                    f"cannot compare redriven records with the rows held: {failed.reason}",
                    failed.unconfirmed,
                    stats + failed.stats,
                    query_failed=failed.failed,
                ) from failed
            stats = stats + spent
            confirmed.update(str(row[0]) for row in found if row and row[0] is not None)
        return confirmed, stats

    def _ask(  # noqa: PLR0917 - a private step of held(), called once
        self,
        target: Target,
        layout: TableLayout,
        record_ids: list[str],
        rows: list[Row],
        deadlines: Deadlines,
        stats: StatementStats,
    ) -> tuple[list[list[str | None]], StatementStats]:
        sql, parameters = presence_query(layout, record_ids, rows)
        try:
            found, spent = self._runner.select(target, sql, parameters, deadlines)
        except SelectFailed as failed:
            raise PresenceUnknown(
                f"cannot ask which records the target holds: {failed.reason}",
                failed.unconfirmed,
                stats + failed.stats,
                query_failed=failed.failed,
            ) from failed
        stats = stats + spent
        return [row for row in found if row and row[0] is not None], stats
