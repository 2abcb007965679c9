"""Writes one batch's rows into one target: what it already holds, transactions, bisection."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest.config import Target
from ingest.deadline import Deadlines
from ingest.presence import PresenceUnknown, TargetPresence
from ingest.records import Reason, Row
from ingest.redshift import FailureKind, StatementOutcome, StatementStatus, classify_failure
from ingest.schema import qualified_name
from ingest.sql import InsertRenderer, Transaction
from ingest.statement_runner import GaveUp, Ran, Refused, StatementRunner, StatementStats

# Bisection statements one target may spend per invocation: enough to isolate a dozen bad rows
# in a batch of 10,000 (about 2 x log2(n) each); past it the rest of the failing part comes back.
BISECTION_BUDGET = 200
TABLE_CHANGED = "the target table changed while rows were being written"


class TableWatch(Protocol):
    """Asks whether the target's table changed since its layout was read (catalog.py)."""

    def changed(self, target: Target, deadlines: Deadlines) -> bool: ...


@dataclass(frozen=True)
class RowFailure:
    """Why rows did not reach a target; one log line per record, never values."""

    message_ids: tuple[str, ...]
    reason: str
    statement_id: str | None = None


@dataclass(frozen=True)
class Invalid:
    """A record this target's table can never take (its layout's validation said why)."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class TargetOutcome:
    """What became of each row sent to one target (keys are SQS message ids)."""

    target: str
    written: frozenset[str] = frozenset()
    already_held: frozenset[str] = frozenset()  # redelivered, found in the target: skipped
    # Redriven with an original_message_id the target holds for a different record.
    impostors: frozenset[str] = frozenset()
    rejected: Mapping[str, str] = field(default_factory=dict)  # -> the database's error
    invalid: Mapping[str, Invalid] = field(default_factory=dict)  # refused by this table's rules
    oversized: frozenset[str] = frozenset()  # alone larger than a statement may be
    returned: Mapping[str, RowFailure] = field(default_factory=dict)  # -> why it comes back
    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    unconfirmed: tuple[str, ...] = ()  # names or ids of statements that may still run
    transactions: int = 0  # committed
    dropped_fields: int = 0  # payload fields the table had no column (and no overflow) for
    # The writing stopped because the table changed: `returned` holds the rows to read again.
    table_changed: bool = False


@dataclass
class _Progress:
    """The writer's running tally for one target: local to one write() call."""

    written: set[str] = field(default_factory=set)
    suspects: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # Whether the target runs a statement on the table at all: set by the control statement
    # run when the first single row fails before any row was written (see _corroborate).
    table_answers: bool | None = None
    table_checked: bool = False  # asked once whether the table changed
    table_changed: bool = False
    returned: dict[str, RowFailure] = field(default_factory=dict)
    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    unconfirmed: list[str] = field(default_factory=list)
    transactions: int = 0

    def give_back(self, rows: Sequence[Row], reason: str, statement_id: str | None) -> None:
        failure = RowFailure(tuple(r.message_id for r in rows), reason, statement_id)
        for row in rows:
            self.returned[row.message_id] = failure

    def give_back_all(
        self, pending: deque[Transaction], reason: str, statement_id: str | None = None
    ) -> None:
        for unsent in pending:
            self.give_back(unsent.rows, reason, statement_id)
        pending.clear()


class TargetWriter:
    """One statement in flight per target per invocation: quota use stays predictable."""

    def __init__(self, runner: StatementRunner, presence: TargetPresence) -> None:
        self._runner = runner
        self._presence = presence

    def write(
        self,
        target: Target,
        renderer: InsertRenderer,
        rows: Sequence[Row],
        deadlines: Deadlines,
        watch: TableWatch,
    ) -> TargetOutcome:
        progress = _Progress()
        held: frozenset[str] = frozenset()
        impostors: frozenset[str] = frozenset()
        maybe_written = [r for r in rows if r.may_be_written]
        if maybe_written:
            try:
                presence = self._presence.held(target, renderer.layout, maybe_written, deadlines)
            except PresenceUnknown as unknown:
                progress.stats = progress.stats + unknown.stats
                if unknown.query_failed and watch.changed(target, deadlines):
                    # The look-up named a column that is gone: every row is read again for the
                    # table as it is now (batch.py), none is judged against the old one.
                    progress.give_back(rows, TABLE_CHANGED, None)
                    return TargetOutcome(
                        target.name,
                        returned=dict(progress.returned),
                        stats=progress.stats,
                        table_changed=True,
                    )
                # Without the target's answer a redelivered row could land twice: send none.
                progress.give_back(maybe_written, str(unknown), None)
                progress.unconfirmed.extend(unknown.unconfirmed)
            else:
                progress.stats = progress.stats + presence.stats
                held = frozenset(
                    r.message_id for r in maybe_written if r.record_id in presence.held
                )
                impostors = frozenset(
                    r.message_id for r in maybe_written if r.record_id in presence.impostors
                )
        skip = held | impostors | progress.returned.keys()
        todo = [r for r in rows if r.message_id not in skip]
        rendering = renderer.render(todo)
        _Run(self._runner, renderer, target, deadlines, watch, progress).write(
            deque(rendering.transactions)
        )
        rejected, statement_level = _judge_suspects(progress)
        for message_id, (error, statement_id) in statement_level.items():
            progress.returned[message_id] = RowFailure((message_id,), error, statement_id)
        written = frozenset(progress.written)
        return TargetOutcome(
            target=target.name,
            written=written,
            already_held=held,
            impostors=impostors,
            rejected=rejected,
            oversized=frozenset(r.message_id for r in rendering.oversized),
            returned=dict(progress.returned),
            stats=progress.stats,
            bisection_steps=progress.bisection_steps,
            unconfirmed=tuple(progress.unconfirmed),
            transactions=progress.transactions,
            dropped_fields=sum(r.dropped_fields for r in todo if r.message_id in written),
            table_changed=progress.table_changed,
        )


@dataclass
class _Run:
    """One write() call's transactions, run one at a time."""

    runner: StatementRunner
    renderer: InsertRenderer
    target: Target
    deadlines: Deadlines
    watch: TableWatch
    progress: _Progress

    def write(self, pending: deque[Transaction]) -> None:
        progress = self.progress
        while pending:
            transaction = pending.popleft()
            if self.deadlines.work.expired():
                pending.appendleft(transaction)
                progress.give_back_all(pending, "deadline reached before submit")
                return
            sqls = transaction.sqls
            run = self.runner.run(
                self.target,
                sqls[0] if len(sqls) == 1 else sqls,
                transaction.parameters,
                self.deadlines,
            )
            progress.stats = progress.stats + run.stats
            result = run.result
            if isinstance(result, GaveUp):
                if result.unconfirmed_name:
                    progress.unconfirmed.append(result.unconfirmed_name)
                progress.give_back(transaction.rows, result.reason, result.statement_id)
                progress.give_back_all(pending, result.reason)
                return
            if isinstance(result, Refused):
                # Refused before it ran (too large, say): smaller parts may pass.
                self._split(transaction, None, (result.message, None), pending)
                continue
            if not self._settle(transaction, result.outcome, pending):
                return

    def _settle(
        self, transaction: Transaction, outcome: StatementOutcome, pending: deque[Transaction]
    ) -> bool:
        """Book a transaction's confirmed end; False when nothing more should be sent."""
        progress = self.progress
        if outcome.status is StatementStatus.FINISHED:
            progress.written.update(row.message_id for row in transaction.rows)
            progress.transactions += 1
            return True
        if outcome.status is StatementStatus.FAILED:
            error = outcome.error or "statement failed without an error message"
            kind = classify_failure(error)
            # A dropped column fails as configuration, a narrowed one as data: either way the
            # table is asked once whether it changed before any row is judged.
            changeable = kind in (FailureKind.DATA, FailureKind.CONFIGURATION)
            if changeable and self._table_changed():
                pending.appendleft(transaction)
                progress.table_changed = True
                progress.give_back_all(pending, TABLE_CHANGED, outcome.statement_id)
                return False
            if kind is FailureKind.DATA:
                self._split(
                    transaction, outcome.failed_part, (error, outcome.statement_id), pending
                )
                return True
            reason = f"{kind.value}: {error}"
        else:  # ABORTED: cancelled at the deadline or by an operator; nothing committed
            reason = f"statement {outcome.status.value}"
        progress.give_back(transaction.rows, reason, outcome.statement_id)
        progress.give_back_all(pending, reason)
        return False

    def _table_changed(self) -> bool:
        """Asked once per write, at the first failure that values could cause: a column
        dropped or narrowed since the layout was read fails statements exactly like a bad
        value, and no record may be dead-lettered for that."""
        progress = self.progress
        if progress.table_checked:
            return False
        progress.table_checked = True
        return self.watch.changed(self.target, self.deadlines)

    def _split(
        self,
        transaction: Transaction,
        failed_part: int | None,
        failure: tuple[str, str | None],
        pending: deque[Transaction],
    ) -> None:
        """Narrow a failed transaction down to its failing rows; a single row is a suspect."""
        progress = self.progress
        error, statement_id = failure
        statements = transaction.statements
        if len(statements) > 1:
            if failed_part is not None and 0 <= failed_part < len(statements):
                # The service named the failing INSERT: the others run again as they were,
                # and only the failing one is bisected.
                others = statements[:failed_part] + statements[failed_part + 1 :]
                parts = [Transaction((statements[failed_part],)), Transaction(others)]
            else:
                middle = len(statements) // 2
                parts = [Transaction(statements[:middle]), Transaction(statements[middle:])]
            for part in reversed(parts):
                pending.appendleft(part)
            return
        rows = transaction.rows
        if len(rows) == 1:
            progress.suspects[rows[0].message_id] = (error, statement_id)
            if not progress.written and progress.table_answers is None:
                progress.table_answers = self._corroborate()
            if progress.table_answers is False:
                # The target fails every statement, values or not: nothing is the rows' fault.
                progress.give_back_all(pending, f"statement-level failure, not the rows': {error}")
            return
        if progress.bisection_steps >= BISECTION_BUDGET:
            progress.give_back(rows, f"bisection budget spent: {error}", statement_id)
            return
        # Halves go first, one at a time, so one active statement per target still holds.
        progress.bisection_steps += 1
        middle = len(rows) // 2
        for half in (rows[middle:], rows[:middle]):
            for part in reversed(self.renderer.render(half).transactions):
                pending.appendleft(part)

    def _corroborate(self) -> bool:
        """A statement with no values (a SELECT of nothing from the table): if it fails too, the
        failure is the target's (its session settings, an internal error), not the rows'."""
        table = qualified_name(self.renderer.layout.table)
        control = f"SELECT 1 FROM {table} WHERE 1 = 0"  # noqa: S608 - validated identifiers
        run = self.runner.run(self.target, control, (), self.deadlines)
        self.progress.stats = self.progress.stats + run.stats
        result = run.result
        return isinstance(result, Ran) and result.outcome.status is StatementStatus.FINISHED


def _judge_suspects(
    progress: _Progress,
) -> tuple[dict[str, str], dict[str, tuple[str, str | None]]]:
    """Suspects are rejected rows once the failure is shown to be theirs: some row of the
    batch was written, or the control statement ran. Otherwise they come back."""
    suspects = progress.suspects
    if progress.written or progress.table_answers:
        return {m: error for m, (error, _) in suspects.items()}, {}
    return {}, {
        m: (f"statement-level failure, not the rows': {error}", statement_id)
        for m, (error, statement_id) in suspects.items()
    }
