"""What every check shares: the function's runner, limits and renderer for the scratch table,
its statements' deadlines, a check's result, and the service's answer put into words."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.config import Settings, Target
from ingest.deadline import Deadlines
from ingest.layout import TableLayout
from ingest.masking import mask
from ingest.redshift import StatementOutcome, StatementStatus
from ingest.row_reader import RowReader
from ingest.sql import InsertRenderer, Limits, Transaction
from ingest.statement_runner import GaveUp, Ran, Refused, Run, StatementRunner
from ingest.wiring import deadlines_for
from preflight import readback
from preflight.rows import message_id

SAID_CHARACTERS = 72  # of the service's words in the report (masked: no values)


@dataclass(frozen=True)
class CheckResult:
    check: str
    said: str  # what the service said: a status, and an error's first line masked
    concluded: str  # what the function made of it
    ok: bool
    note: str = ""  # printed under the table


@dataclass
class Context:
    """The function's runner and limits, the target, and the scratch table once read."""

    runner: StatementRunner
    target: Target
    settings: Settings
    limits: Limits  # wiring.transaction_limits: what the function renders with
    run_id: str  # in every message id of this run
    check_seconds: float  # each statement's deadline
    layout: TableLayout | None = None  # the scratch table as the function's catalog read it
    statements: int = 0  # submitted: every ExecuteStatement and BatchExecuteStatement

    def deadlines(self) -> Deadlines:
        return deadlines_for(self.settings, self.check_seconds)

    def run(self, sqls: str | Sequence[str], parameters: Sequence[tuple[str, str]] = ()) -> Run:
        """One statement or transaction through the function's runner, to a confirmed end."""
        run = self.runner.run(self.target, sqls, parameters, self.deadlines())
        self.statements += run.stats.submitted
        return run

    def send(self, transaction: Transaction) -> Run:
        return self.run(transaction.sqls, transaction.parameters)

    def select(self, sql: str, parameters: Sequence[tuple[str, str]]) -> list[readback.Fetched]:
        """The function's SELECT path (SelectFailed when it gives no rows)."""
        rows, stats = self.runner.select(self.target, sql, parameters, self.deadlines())
        self.statements += stats.submitted
        return rows

    @property
    def table(self) -> TableLayout:
        assert self.layout is not None, "the catalog check runs first"
        return self.layout

    def reader(self) -> RowReader:
        return RowReader(self.table)

    def renderer(self, limits: Limits | None = None) -> InsertRenderer:
        """The function's renderer for the table, with its limits (or these)."""
        return InsertRenderer(self.table, limits or self.limits)

    def pattern(self, check: str) -> str:
        """LIKE pattern of a check's message ids (only hex, digits and '-' before the %)."""
        return message_id(self.run_id, check, 0)[:-5] + "%"

    def fetch(self, check: str, extra_columns: Sequence[str] = ()) -> dict[str, readback.Fetched]:
        """A check's rows as stored, by message id."""
        sql = readback.select_sql(self.table, extra_columns)
        return readback.by_message_id(self.table, self.select(sql, (("m", self.pattern(check)),)))

    def count(self, pattern: str) -> int:
        rows = self.select(readback.count_sql(self.table), (("m", pattern),))
        return int(rows[0][0] or 0)


@dataclass(frozen=True)
class Check:
    label: str  # the report's name when the check ends early, before it can say more
    run: Callable[[Context], CheckResult]


def first_line(error: str | None) -> str:
    return mask((error or "no error text").strip().partition("\n")[0], SAID_CHARACTERS)


def said(run: Run, parts: int) -> str:
    """What the service said about a statement of `parts` SQLs, masked."""
    result = run.result
    if isinstance(result, Refused):
        return "refused: " + mask(result.message, SAID_CHARACTERS)
    if isinstance(result, GaveUp):
        return "no confirmed end: " + mask(result.reason, SAID_CHARACTERS)
    outcome = result.outcome
    if outcome.status is StatementStatus.FINISHED:
        return "FINISHED"
    where = f" at SQL {outcome.failed_part + 1}/{parts}" if outcome.failed_part is not None else ""
    return f"{outcome.status.value}{where}: {first_line(outcome.error)}"


def ended(run: Run) -> StatementOutcome | None:
    return run.result.outcome if isinstance(run.result, Ran) else None


def finished(run: Run) -> bool:
    outcome = ended(run)
    return outcome is not None and outcome.status is StatementStatus.FINISHED


def failed(run: Run) -> StatementOutcome | None:
    outcome = ended(run)
    return outcome if outcome is not None and outcome.status is StatementStatus.FAILED else None


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
