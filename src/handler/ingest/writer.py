"""Writes one batch's rows into one target: what it already holds, statements, bisection."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ingest.config import Target
from ingest.deadline import Deadlines
from ingest.presence import PresenceUnknown, TargetPresence
from ingest.records import Row
from ingest.redshift import FailureKind, StatementStatus, classify_failure
from ingest.schema import quote_identifier
from ingest.sql import InsertStatement, Rendering, render_inserts
from ingest.statement_runner import GaveUp, Ran, Refused, StatementRunner, StatementStats

# Bisection statements one target may spend per invocation: enough to isolate a dozen bad rows
# in a batch of 10,000 (about 2 x log2(n) each); past it the rest of the failing part comes back.
BISECTION_BUDGET = 200


@dataclass(frozen=True)
class RowFailure:
    """Why rows did not reach a target; one log line per record, never values."""

    message_ids: tuple[str, ...]
    reason: str
    statement_id: str | None = None


@dataclass(frozen=True)
class TargetOutcome:
    """What became of each row sent to one target (keys are SQS message ids)."""

    target: str
    written: frozenset[str] = frozenset()
    already_held: frozenset[str] = frozenset()  # redelivered, found in the target: skipped
    # Redriven with an original_message_id the target holds for a different record.
    impostors: frozenset[str] = frozenset()
    rejected: Mapping[str, str] = field(default_factory=dict)  # -> the database's error
    oversized: frozenset[str] = frozenset()  # alone larger than a statement may be
    returned: Mapping[str, RowFailure] = field(default_factory=dict)  # -> why it comes back
    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    unconfirmed: tuple[str, ...] = ()  # names or ids of statements that may still run


@dataclass
class _Progress:
    """The writer's running tally for one target: local to one write() call."""

    written: set[str] = field(default_factory=set)
    suspects: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # Whether the target runs a statement on the table at all: set by the control statement
    # run when the first single row fails before any row was written (see _corroborate).
    table_answers: bool | None = None
    returned: dict[str, RowFailure] = field(default_factory=dict)
    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    unconfirmed: list[str] = field(default_factory=list)

    def give_back(self, rows: Sequence[Row], reason: str, statement_id: str | None) -> None:
        failure = RowFailure(tuple(r.message_id for r in rows), reason, statement_id)
        for row in rows:
            self.returned[row.message_id] = failure


class TargetWriter:
    """One statement in flight per target per invocation: quota use stays predictable."""

    def __init__(
        self,
        runner: StatementRunner,
        presence: TargetPresence,
        *,
        table: str,
        max_bytes: int,
        max_parameters: int,
    ) -> None:
        self._runner = runner
        self._presence = presence
        self._table = table
        self._max_bytes = max_bytes
        self._max_parameters = max_parameters

    def _render(self, rows: Sequence[Row]) -> Rendering:
        return render_inserts(
            self._table, rows, max_bytes=self._max_bytes, max_parameters=self._max_parameters
        )

    def write(self, target: Target, rows: Sequence[Row], deadlines: Deadlines) -> TargetOutcome:
        progress = _Progress()
        held: frozenset[str] = frozenset()
        impostors: frozenset[str] = frozenset()
        maybe_written = [r for r in rows if r.may_be_written]
        if maybe_written:
            try:
                presence = self._presence.held(target, maybe_written, deadlines)
            except PresenceUnknown as unknown:
                # Without the target's answer a redelivered row could land twice: send none.
                progress.give_back(maybe_written, str(unknown), None)
                progress.unconfirmed.extend(unknown.unconfirmed)
                progress.stats = progress.stats + unknown.stats
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
        rendering = self._render(todo)
        self._write_statements(target, deque(rendering.statements), deadlines, progress)
        rejected, statement_level = self._judge_suspects(progress)
        for message_id, (error, statement_id) in statement_level.items():
            progress.returned[message_id] = RowFailure((message_id,), error, statement_id)
        return TargetOutcome(
            target=target.name,
            written=frozenset(progress.written),
            already_held=held,
            impostors=impostors,
            rejected=rejected,
            oversized=frozenset(r.message_id for r in rendering.oversized),
            returned=dict(progress.returned),
            stats=progress.stats,
            bisection_steps=progress.bisection_steps,
            unconfirmed=tuple(progress.unconfirmed),
        )

    def _write_statements(
        self,
        target: Target,
        pending: deque[InsertStatement],
        deadlines: Deadlines,
        progress: _Progress,
    ) -> None:
        while pending:
            statement = pending.popleft()
            if deadlines.work.expired():
                stop = "deadline reached before submit"
                for unsent in (statement, *pending):
                    progress.give_back(unsent.rows, stop, None)
                return
            run = self._runner.run(target, statement.sql, statement.parameters, deadlines)
            progress.stats = progress.stats + run.stats
            result = run.result
            if isinstance(result, GaveUp):
                if result.unconfirmed_name:
                    progress.unconfirmed.append(result.unconfirmed_name)
                progress.give_back(statement.rows, result.reason, result.statement_id)
                for unsent in pending:
                    progress.give_back(unsent.rows, result.reason, None)
                return
            if isinstance(result, Refused):
                self._split(
                    target,
                    statement,
                    failure=(result.message, None),
                    pending=pending,
                    progress=progress,
                    deadlines=deadlines,
                )
                continue
            outcome = result.outcome
            if outcome.status is StatementStatus.FINISHED:
                progress.written.update(row.message_id for row in statement.rows)
                continue
            if outcome.status is StatementStatus.FAILED:
                error = outcome.error or "statement failed without an error message"
                kind = classify_failure(error)
                if kind is FailureKind.DATA:
                    self._split(
                        target,
                        statement,
                        failure=(error, outcome.statement_id),
                        pending=pending,
                        progress=progress,
                        deadlines=deadlines,
                    )
                    continue
                reason = f"{kind.value}: {error}"
            else:  # ABORTED: cancelled at the deadline or by an operator; nothing committed
                reason = f"statement {outcome.status.value}"
            progress.give_back(statement.rows, reason, outcome.statement_id)
            for unsent in pending:
                progress.give_back(unsent.rows, reason, None)
            return

    def _split(
        self,
        target: Target,
        statement: InsertStatement,
        *,
        failure: tuple[str, str | None],
        pending: deque[InsertStatement],
        progress: _Progress,
        deadlines: Deadlines,
    ) -> None:
        """Bisect a statement its rows may have failed; a single row becomes a suspect."""
        error, statement_id = failure
        if len(statement.rows) == 1:
            progress.suspects[statement.rows[0].message_id] = (error, statement_id)
            if not progress.written and progress.table_answers is None:
                progress.table_answers = self._corroborate(target, deadlines, progress)
            if progress.table_answers is False:
                # The target fails every statement, values or not: nothing is the rows' fault.
                reason = f"statement-level failure, not the rows': {error}"
                for unsent in pending:
                    progress.give_back(unsent.rows, reason, None)
                pending.clear()
            return
        if progress.bisection_steps >= BISECTION_BUDGET:
            progress.give_back(statement.rows, f"bisection budget spent: {error}", statement_id)
            return
        # Halves go first, one at a time, so one active statement per target still holds.
        progress.bisection_steps += 1
        middle = len(statement.rows) // 2
        for half in (statement.rows[middle:], statement.rows[:middle]):
            for part in reversed(self._render(half).statements):
                pending.appendleft(part)

    def _corroborate(self, target: Target, deadlines: Deadlines, progress: _Progress) -> bool:
        """A statement with no values (a SELECT of nothing from the table): if it fails too, the
        failure is the target's (its session settings, an internal error), not the rows'."""
        qualified = ".".join(quote_identifier(part) for part in self._table.split("."))
        control = f"SELECT 1 FROM {qualified} WHERE 1 = 0"  # noqa: S608 - validated identifiers
        run = self._runner.run(target, control, (), deadlines)
        progress.stats = progress.stats + run.stats
        result = run.result
        return isinstance(result, Ran) and result.outcome.status is StatementStatus.FINISHED

    @staticmethod
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
