"""Writes one batch's rows into one target: statements in sequence, retries, bisection."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ingest.config import Settings, Target
from ingest.deadline import Deadline
from ingest.records import Row
from ingest.redshift import (
    DataApi,
    FailureKind,
    QuotaExceeded,
    StatementOutcome,
    StatementRejected,
    TargetMisconfigured,
    Throttled,
    TransientError,
    classify_failure,
)
from ingest.sql import Rendering, Statement, render_inserts


@dataclass
class TargetStats:
    statements_submitted: int = 0
    statement_durations_ms: list[float] = field(default_factory=list)
    quota_rejections: int = 0
    throttles: int = 0
    bisection_steps: int = 0
    statements_cancelled: int = 0


@dataclass(frozen=True)
class _Refused:
    """The service refused the statement as sent (it never ran)."""

    message: str


@dataclass(frozen=True)
class RowFailure:
    """Why some rows were not written to a target; logged one line per record."""

    message_ids: tuple[str, ...]
    statement_id: str | None
    reason: str


@dataclass
class TargetResult:
    target: str
    written: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)  # message id -> database error
    oversized: set[str] = field(default_factory=set)  # alone larger than a statement may be
    retry: dict[str, RowFailure] = field(default_factory=dict)  # message id -> why it comes back
    failures: list[RowFailure] = field(default_factory=list)
    stats: TargetStats = field(default_factory=TargetStats)


class _StopTarget(Exception):
    """Nothing more should be sent to this target in this invocation."""

    def __init__(self, reason: str, statement_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.statement_id = statement_id  # of the statement that stopped us, if it ran


class TargetWriter:
    """One statement in flight per target per invocation: quota use stays predictable."""

    def __init__(
        self,
        api: DataApi,
        settings: Settings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._settings = settings
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep

    def write(self, target: Target, rows: Sequence[Row], deadline: Deadline) -> TargetResult:
        result = TargetResult(target.name)
        rendering = self._render(rows)
        result.oversized.update(row.message_id for row in rendering.oversized)
        pending: deque[Statement] = deque(rendering.statements)
        while pending:
            statement = pending.popleft()
            try:
                if deadline.expired():
                    raise _StopTarget("deadline reached before submit")
                self._run(target, statement, deadline, result, pending)
            except _StopTarget as stop:
                self._give_back(result, statement, stop.statement_id, stop.reason)
                for never_sent in pending:
                    self._give_back(result, never_sent, None, stop.reason)
                break
        return result

    def _render(self, rows: Sequence[Row]) -> Rendering:
        return render_inserts(
            self._settings.table,
            rows,
            max_bytes=self._settings.statement_max_bytes,
            max_parameters=self._settings.statement_max_parameters,
        )

    def _run(
        self,
        target: Target,
        statement: Statement,
        deadline: Deadline,
        result: TargetResult,
        pending: deque[Statement],
    ) -> None:
        outcome = self._execute_with_retries(target, statement, deadline, result)
        if isinstance(outcome, _Refused):
            return self._bisect_or_reject(statement, None, outcome.message, result, pending)
        if outcome.status == "FINISHED":
            result.written.update(row.message_id for row in statement.rows)
            return None
        if outcome.status == "FAILED":
            error = outcome.error or "statement failed without an error message"
            kind = classify_failure(error)
            if kind is FailureKind.DATA:
                return self._bisect_or_reject(statement, outcome, error, result, pending)
            raise _StopTarget(f"{kind.value}: {error}", outcome.statement_id)
        # ABORTED or UNKNOWN: cancelled at the deadline (or by an operator).
        raise _StopTarget(f"statement {outcome.status}", outcome.statement_id)

    def _execute_with_retries(
        self, target: Target, statement: Statement, deadline: Deadline, result: TargetResult
    ) -> StatementOutcome | _Refused:
        """The statement's final outcome, or its refusal; _StopTarget once retries run out."""
        stats = result.stats
        token = self._api.new_client_token()
        last_error = "transient failure"
        last_statement_id: str | None = None
        for attempt in range(self._settings.max_transient_retries + 1):
            try:
                outcome = self._api.execute(target, statement, token, deadline)
            except StatementRejected as exc:
                return _Refused(str(exc))
            except TargetMisconfigured as exc:
                raise _StopTarget(f"target misconfigured: {exc}") from exc
            except QuotaExceeded as exc:
                stats.quota_rejections += 1
                last_error = f"active statement quota: {exc}"
            except Throttled as exc:
                stats.throttles += 1
                last_error = f"throttled: {exc}"
            except TransientError as exc:
                last_error = f"transient: {exc}"
            else:
                stats.statements_submitted += 1  # accepted by the service (refusals not counted)
                stats.statement_durations_ms.append(outcome.duration_ms)
                stats.statements_cancelled += int(outcome.cancelled)
                failed_transiently = outcome.status == "FAILED" and (
                    classify_failure(outcome.error or "") is FailureKind.TRANSIENT
                )
                if not failed_transiently:
                    return outcome
                last_error = f"transient: {outcome.error}"
                last_statement_id = outcome.statement_id
                token = self._api.new_client_token()  # the old token names the failed run
            if attempt < self._settings.max_transient_retries:
                self._backoff(attempt, deadline)
        raise _StopTarget(last_error, last_statement_id)

    def _backoff(self, attempt: int, deadline: Deadline) -> None:
        # Full jitter: concurrent invocations that collided do not collide again in step.
        cap = min(self._settings.retry_max_seconds, self._settings.retry_base_seconds * 2**attempt)
        delay = self._rng.uniform(0, cap)
        if delay >= deadline.remaining():
            raise _StopTarget("deadline reached while backing off")
        self._sleep(delay)

    def _bisect_or_reject(
        self,
        statement: Statement,
        outcome: StatementOutcome | None,
        error: str,
        result: TargetResult,
        pending: deque[Statement],
    ) -> None:
        statement_id = outcome.statement_id if outcome else None
        if len(statement.rows) == 1:
            message_id = statement.rows[0].message_id
            result.rejected[message_id] = error
            result.failures.append(RowFailure((message_id,), statement_id, error))
            return
        # Halves go first, one at a time, so one active statement per target still holds.
        result.stats.bisection_steps += 1
        middle = len(statement.rows) // 2
        halves = [statement.rows[:middle], statement.rows[middle:]]
        for half in reversed(halves):
            for part in reversed(self._render(half).statements):
                pending.appendleft(part)

    @staticmethod
    def _give_back(
        result: TargetResult, statement: Statement, statement_id: str | None, reason: str
    ) -> None:
        failure = RowFailure(tuple(row.message_id for row in statement.rows), statement_id, reason)
        for message_id in failure.message_ids:
            result.retry[message_id] = failure
        result.failures.append(failure)
