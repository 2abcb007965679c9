"""One statement to a confirmed end: submit retries, backoff, lost replies resolved by name.

A statement is one SQL string (ExecuteStatement) or up to 40 run as one transaction
(BatchExecuteStatement): the same name, token, retries, deadlines and cancellation for both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ingest.config import Target
from ingest.deadline import Deadlines
from ingest.failure_text import FailureKind, classify_failure
from ingest.redshift import (
    AmbiguousSubmit,
    DataApi,
    DataApiError,
    OutOfTime,
    QuotaExceeded,
    StatementOutcome,
    StatementRejected,
    StatementStatus,
    StatementUnconfirmed,
    TargetMisconfigured,
    Throttled,
    TransientError,
    as_sqls,
)
from ingest.retry_policy import SUBMIT_RETRY, Backoff


@dataclass(frozen=True)
class StatementStats:
    """What running statements cost one target; summed over an invocation."""

    submitted: int = 0  # accepted by the service (refusals are not statements)
    quota_rejections: int = 0
    throttles: int = 0
    cancelled: int = 0
    unconfirmed: int = 0  # may still run or have committed: logged by name, alarmed on
    durations_ms: tuple[float, ...] = ()

    def __add__(self, other: StatementStats) -> StatementStats:
        return StatementStats(
            self.submitted + other.submitted,
            self.quota_rejections + other.quota_rejections,
            self.throttles + other.throttles,
            self.cancelled + other.cancelled,
            self.unconfirmed + other.unconfirmed,
            self.durations_ms + other.durations_ms,
        )


@dataclass(frozen=True)
class Ran:
    """The statement reached an end the service confirmed (a FAILED batch committed nothing;
    its outcome's failed_part says which SQL failed, when the service said)."""

    outcome: StatementOutcome


@dataclass(frozen=True)
class Refused:
    """The service refused the statement as sent (its size): it never ran."""

    message: str


@dataclass(frozen=True)
class GaveUp:
    """No confirmed end: the rows go back to the queue, and nothing more goes to this target."""

    reason: str
    statement_id: str | None = None
    # The statement may still run or may have committed (its name is logged): the redelivery
    # cancels it as an orphan and asks the target which rows it holds before writing again.
    unconfirmed_name: str | None = None


RunResult = Ran | Refused | GaveUp


@dataclass(frozen=True)
class Run:
    result: RunResult
    stats: StatementStats = field(default_factory=StatementStats)


class SelectFailed(Exception):
    """A SELECT did not give its rows: no confirmed end, not FINISHED, or unreadable results.
    The message says why (the service's or database's words, never a value of ours)."""

    def __init__(
        self,
        reason: str,
        unconfirmed: tuple[str, ...],
        stats: StatementStats,
        *,
        failed: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unconfirmed = unconfirmed
        self.stats = stats
        self.failed = failed  # it ran and FAILED: the database refused the query itself


class StatementRunner:
    """Retries what can be retried (retry_policy.SUBMIT_RETRY), never past the deadlines."""

    def __init__(
        self,
        api: DataApi,
        *,
        max_transient_retries: int,
        backoff: Backoff = SUBMIT_RETRY,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._max_retries = max_transient_retries
        self._backoff_policy = backoff
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep = sleep
        self._clock = clock

    def select(
        self,
        target: Target,
        sql: str,
        parameters: Sequence[tuple[str, str]],
        deadlines: Deadlines,
    ) -> tuple[list[list[str | None]], StatementStats]:
        """Run a SELECT to its end and read every row (values as text), or SelectFailed."""
        run = self.run(target, sql, parameters, deadlines, read_only=True)
        result = run.result
        if not isinstance(result, Ran) or result.outcome.status is not StatementStatus.FINISHED:
            if isinstance(result, Ran):
                detail = f"{result.outcome.status.value}: {result.outcome.error}"
            else:
                detail = result.reason if isinstance(result, GaveUp) else result.message
            name = result.unconfirmed_name if isinstance(result, GaveUp) else None
            failed = isinstance(result, Ran) and result.outcome.status is StatementStatus.FAILED
            raise SelectFailed(detail, (name,) if name else (), run.stats, failed=failed)
        try:
            rows = self._api.result_rows(result.outcome.statement_id, deadlines)
        except DataApiError as exc:
            raise SelectFailed(f"cannot read its result: {exc}", (), run.stats) from exc
        return rows, run.stats

    def run(  # noqa: PLR0912 - one retry loop reads best as one ladder of outcomes
        self,
        target: Target,
        sql: str | Sequence[str],
        parameters: Sequence[tuple[str, str]],
        deadlines: Deadlines,
        *,
        read_only: bool = False,
    ) -> Run:
        """Run one SQL, or several as one transaction (the parameters shared by all of them),
        to a confirmed end within the deadlines. Raises ValueError for no SQL or over 40.

        A FAILED statement whose commit may have taken effect (a lost connection) is retried
        only when `read_only`: a write must first ask the target what it holds (writer.py)."""
        sqls = as_sqls(sql)
        stats = StatementStats()
        token = self._api.new_client_token()
        name = self._api.statement_name(target, deadlines)
        # Set once a submit may have reached the service under `token` and `name`: retries
        # keep the token (the service then returns the same statement, never a second one).
        maybe_submitted = False
        last_error, last_statement_id = "transient failure", None
        for attempt in range(self._max_retries + 1):
            started = self._clock()
            statement_id: str | None = None
            status: str | None = None
            try:
                submitted = self._api.submit(
                    target, sqls, parameters, name=name, client_token=token, deadlines=deadlines
                )
                statement_id, status = submitted.statement_id, submitted.status
            except StatementRejected as exc:
                return Run(Refused(str(exc)), stats)
            except TargetMisconfigured as exc:
                if not maybe_submitted:
                    return Run(GaveUp(f"target misconfigured: {exc}"), stats)
                last_error = f"target misconfigured: {exc}"
                break
            except AmbiguousSubmit as exc:
                maybe_submitted = True
                last_error = f"transient: {exc}"
                statement_id = exc.statement_id  # ExecuteStatementException names it
            except QuotaExceeded as exc:
                stats = replace(stats, quota_rejections=stats.quota_rejections + 1)
                last_error = f"active statement quota: {exc}"
            except Throttled as exc:
                stats = replace(stats, throttles=stats.throttles + 1)
                last_error = f"throttled: {exc}"
            except TransientError as exc:
                last_error = f"transient: {exc}"
            except OutOfTime:
                last_error = "deadline reached before submit"
                break
            if statement_id is not None:
                ended = self._await(statement_id, status, started, deadlines, stats)
                if not isinstance(ended, StatementOutcome):
                    return ended
                ended = _within(ended, len(sqls))
                stats = _counted(stats, ended)
                if not _failed_transiently(ended, read_only=read_only):
                    return Run(Ran(ended), stats)
                # Nothing of a FAILED statement committed: run it again, as a new statement.
                last_error, last_statement_id = f"transient: {ended.error}", ended.statement_id
                token, name = (
                    self._api.new_client_token(),
                    self._api.statement_name(target, deadlines),
                )
                maybe_submitted = False
            if attempt < self._max_retries and not self._backoff(attempt, deadlines):
                last_error = f"{last_error} (deadline reached while backing off)"
                break
        if maybe_submitted:
            return self._resolve_by_name(
                target, name, last_error, deadlines, stats, parts=len(sqls), read_only=read_only
            )
        return Run(GaveUp(last_error, last_statement_id), stats)

    def _await(
        self,
        statement_id: str,
        status: str | None,
        started: float,
        deadlines: Deadlines,
        stats: StatementStats,
    ) -> StatementOutcome | Run:
        try:
            return self._api.await_outcome(statement_id, deadlines, started=started, status=status)
        except StatementUnconfirmed as exc:
            stats = replace(stats, submitted=stats.submitted + 1, unconfirmed=stats.unconfirmed + 1)
            return Run(GaveUp(str(exc), statement_id, exc.name), stats)

    def _resolve_by_name(
        self,
        target: Target,
        name: str,
        last_error: str,
        deadlines: Deadlines,
        stats: StatementStats,
        *,
        parts: int,
        read_only: bool,
    ) -> Run:
        """After replies were lost: find the statement by its name and settle it."""
        try:
            statement_id = self._api.find(target, name, deadlines)
        except DataApiError:
            stats = replace(stats, unconfirmed=stats.unconfirmed + 1)
            return Run(GaveUp(f"{last_error}; submit unconfirmed", None, name), stats)
        if statement_id is None:
            # Not listed (yet): a submit given up at its time limit may still be on its way,
            # and would then create the statement after we looked. Unconfirmed, by name.
            stats = replace(stats, unconfirmed=stats.unconfirmed + 1)
            reason = f"{last_error}; the service lists no such statement (yet)"
            return Run(GaveUp(reason, None, name), stats)
        ended = self._await(statement_id, None, self._clock(), deadlines, stats)
        if not isinstance(ended, StatementOutcome):
            return ended
        ended = _within(ended, parts)
        stats = _counted(stats, ended)
        if _failed_transiently(ended, read_only=read_only):
            return Run(GaveUp(f"transient: {ended.error}", statement_id), stats)
        return Run(Ran(ended), stats)

    def _backoff(self, attempt: int, deadlines: Deadlines) -> bool:
        # Full jitter (retry_policy.py): invocations that collided do not collide again in step.
        delay = self._backoff_policy.jittered(attempt, self._rng)
        if not deadlines.work.allows(delay):
            return False
        self._sleep(delay)
        return True


def _counted(stats: StatementStats, outcome: StatementOutcome) -> StatementStats:
    return replace(
        stats,
        submitted=stats.submitted + 1,
        cancelled=stats.cancelled + int(outcome.cancelled),
        durations_ms=(*stats.durations_ms, outcome.duration_ms),
    )


def _within(outcome: StatementOutcome, parts: int) -> StatementOutcome:
    """A failed part the statement does not have (a single statement has none) is not said."""
    if outcome.failed_part is None or (parts > 1 and 0 <= outcome.failed_part < parts):
        return outcome
    return replace(outcome, failed_part=None)


def _failed_transiently(outcome: StatementOutcome, *, read_only: bool) -> bool:
    if outcome.status is not StatementStatus.FAILED:
        return False
    kind = classify_failure(outcome.error or "")
    return kind is FailureKind.TRANSIENT or (read_only and kind is FailureKind.COMMIT_UNKNOWN)
