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
from ingest.sql import InsertStatement, Rendering, render_inserts
from ingest.statement_runner import GaveUp, Refused, StatementRunner, StatementStats

# Bisection statements one target may spend per invocation: enough to isolate a dozen bad rows
# in a batch of 10,000 (about 2 x log2(n) each); past it the rest of the failing part comes back.
BISECTION_BUDGET = 200
# Single rows failing one after another while not one row of the batch could be written: the
# failure is the statement's (or the table's), not the rows'. They come back; none is
# dead-lettered. Below this, a value error on a single row is trusted and the row is a letter.
STATEMENT_LEVEL_AFTER = 3


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
        maybe_written = [r for r in rows if r.may_be_written]
        if maybe_written:
            try:
                presence = self._presence.held(target, maybe_written, deadlines)
            except PresenceUnknown as unknown:
                # Without the target's answer a redelivered row could land twice: send none.
                progress.give_back(maybe_written, str(unknown), None)
                progress.unconfirmed.extend(unknown.unconfirmed)
                progress.stats = progress.stats + unknown.stats
                held_ids: frozenset[str] = frozenset()
            else:
                progress.stats = progress.stats + presence.stats
                held_ids = presence.held
            held = frozenset(r.message_id for r in maybe_written if r.record_id in held_ids)
        todo = [
            r for r in rows if r.message_id not in held and r.message_id not in progress.returned
        ]
        rendering = self._render(todo)
        self._write_statements(target, deque(rendering.statements), deadlines, progress)
        rejected, statement_level = self._judge_suspects(progress)
        for message_id, (error, statement_id) in statement_level.items():
            progress.returned[message_id] = RowFailure((message_id,), error, statement_id)
        return TargetOutcome(
            target=target.name,
            written=frozenset(progress.written),
            already_held=held,
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
                self._split(statement, result.message, None, pending, progress)
                continue
            outcome = result.outcome
            if outcome.status is StatementStatus.FINISHED:
                progress.written.update(row.message_id for row in statement.rows)
                continue
            if outcome.status is StatementStatus.FAILED:
                error = outcome.error or "statement failed without an error message"
                kind = classify_failure(error)
                if kind is FailureKind.DATA:
                    self._split(statement, error, outcome.statement_id, pending, progress)
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
        statement: InsertStatement,
        error: str,
        statement_id: str | None,
        pending: deque[InsertStatement],
        progress: _Progress,
    ) -> None:
        """Bisect a statement its rows may have failed; a single row becomes a suspect."""
        if len(statement.rows) == 1:
            progress.suspects[statement.rows[0].message_id] = (error, statement_id)
            if len(progress.suspects) >= STATEMENT_LEVEL_AFTER and not progress.written:
                # Everything fails alike and nothing lands: stop spending statements on it.
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

    @staticmethod
    def _judge_suspects(
        progress: _Progress,
    ) -> tuple[dict[str, str], dict[str, tuple[str, str | None]]]:
        """Suspects are rejected rows unless the failure never localised (see
        STATEMENT_LEVEL_AFTER): then they are the statement's victims and come back."""
        suspects = progress.suspects
        if len(suspects) >= STATEMENT_LEVEL_AFTER and not progress.written:
            return {}, {
                m: (f"statement-level failure, not the rows': {error}", statement_id)
                for m, (error, statement_id) in suspects.items()
            }
        return {m: error for m, (error, _) in suspects.items()}, {}
