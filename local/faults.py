"""Faults injected per cluster or workgroup: each applies to the next N calls, in arrival order.

Every method takes effect for the target it names (a cluster identifier or workgroup name);
those whose `target` may be None apply to any target. Counters are consumed under one lock, so
concurrent callers never share or skip a fault.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Literal

from local.errors import (
    QUERY_TOO_LARGE,
    REQUEST_TOO_LARGE,
    SERVER_FAULTS,
    ActiveStatementsExceededError,
    ApiError,
    RequestTooLargeError,
    ThrottlingError,
    ValidationError,
)
from local.redshift_errors import CONNECTION_LOST, parameterised_value_error

DEFAULT_FAILURE = "ERROR: injected failure"
# What fail_after_commit_next reports by default: the connection dropped once the commit had
# taken effect (see local.redshift_errors.CONNECTION_LOST for the wording's source).
DEFAULT_AFTER_COMMIT = CONNECTION_LOST
SIZE_STATUSES = (400, 413)
REJECTIONS = ("ActiveStatementsExceededException", "ThrottlingException")
OPERATIONS = (
    "ExecuteStatement",
    "BatchExecuteStatement",
    "DescribeStatement",
    "CancelStatement",
    "GetStatementResult",
    "ListStatements",
)
# The server faults that name the statement they failed: the service model gives both a
# required StatementId. The statement then exists, FAILED with the fault's message (nothing
# ran): DescribeStatement and ListStatements show it, so a caller that lost track can find it.
STATEMENT_FAULTS = {
    "ExecuteStatementException": "ExecuteStatement",
    "BatchExecuteStatementException": "BatchExecuteStatement",
}
CANCEL_REFUSALS = (
    "ThrottlingException",
    "InternalServerException",
    "DatabaseConnectionException",
    "QueryTimeoutException",
)
DESCRIBE_REFUSALS = (
    "InternalServerException",
    "ThrottlingException",
    "ActiveWaitingRequestsExceededException",
)
CancelOutcome = Literal["ABORTED", "FINISHED"]
Target = str | None  # None: any target


@dataclass(frozen=True)
class StatementFault:
    """What a statement being admitted is set up to do, decided once, in arrival order."""

    fail_with: str | None = None  # FAILED with this before any SQL runs
    hang: bool = False  # STARTED until cancelled
    fail_after_commit: str | None = None  # commits, then FAILED with this


@dataclass(frozen=True)
class ReplyFault:
    """What happens to a reply once its operation took effect."""

    lose: bool = False  # close the connection without a reply
    delay: float = 0.0  # seconds to hold the reply


@dataclass
class _TargetFaults:
    failures: deque[str] = field(default_factory=deque)
    hangs: int = 0
    hang_after: int = 0  # statements to let through before the hangs start
    rejections: deque[str] = field(default_factory=deque)
    lost_races: int = 0
    refusals: defaultdict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    lost_replies: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    delays: defaultdict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    slow_cancels: deque[tuple[float, CancelOutcome]] = field(default_factory=deque)
    denied: bool = False
    # (text, error): a statement binding a value that contains `text` fails with `error`.
    refused_values: tuple[tuple[str, str], ...] = ()
    after_commit: deque[str] = field(default_factory=deque)
    size_refusals: deque[tuple[int, str, bool]] = field(
        default_factory=deque
    )  # status, wording, html
    parameterised_failures: deque[str] = field(default_factory=deque)
    parameterised_error: str | None = None  # every statement with Parameters, until cleared


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError("count must be at least 1")


class Faults:
    """Thread-safe counters, consumed by the service in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: defaultdict[Target, _TargetFaults] = defaultdict(_TargetFaults)

    # ---- statements ---------------------------------------------------------------------

    def fail_next(self, target: str, count: int = 1, error: str = DEFAULT_FAILURE) -> None:
        """The next `count` statements end FAILED with `error` (no SQL runs)."""
        with self._lock:
            self._targets[target].failures.extend([error] * count)

    def fail_after_commit_next(
        self, target: str, count: int = 1, error: str = DEFAULT_AFTER_COMMIT
    ) -> None:
        """The next `count` statements run and COMMIT (their rows really land), then end
        FAILED with `error`, a connection-class error by default: the caller cannot tell
        that the work took effect.

        A BatchExecuteStatement is FAILED; its SQLs before the last stay FINISHED (they ran
        and committed) and its last SQL, whose end the commit is, is FAILED with `error`, as
        when a batch's commit itself fails. A statement whose SQL fails on its own spends the
        fault and reports its own error (nothing committed)."""
        _check_count(count)
        with self._lock:
            self._targets[target].after_commit.extend([error] * count)

    def fail_parameterised_next(
        self, target: str, count: int = 1, error: str | None = None
    ) -> None:
        """The next `count` statements that carry Parameters end FAILED with `error` (no SQL
        of theirs runs); statements without Parameters run as usual and do not count. The
        default error is a Redshift value error (redshift_errors.parameterised_value_error)."""
        _check_count(count)
        text = error if error is not None else parameterised_value_error()
        with self._lock:
            self._targets[target].parameterised_failures.extend([text] * count)

    def fail_parameterised(self, target: str, error: str | None = None) -> None:
        """Every statement carrying Parameters ends FAILED with `error` (as in
        fail_parameterised_next) until clear_parameterised or clear."""
        text = error if error is not None else parameterised_value_error()
        with self._lock:
            self._targets[target].parameterised_error = text

    def clear_parameterised(self, target: str) -> None:
        """Ends fail_parameterised and drops what fail_parameterised_next still had queued."""
        with self._lock:
            self._targets[target].parameterised_error = None
            self._targets[target].parameterised_failures.clear()

    def hang_next(self, target: str, count: int = 1, after: int = 0) -> None:
        """After `after` normal statements, the next `count` stay STARTED until cancelled."""
        with self._lock:
            self._targets[target].hangs += count
            self._targets[target].hang_after = after

    # ---- refused requests ---------------------------------------------------------------

    def reject_next(
        self, target: str, count: int = 1, code: str = "ActiveStatementsExceededException"
    ) -> None:
        """The next `count` submits fail with `code` (one of REJECTIONS)."""
        if code not in REJECTIONS:
            raise ValueError(f"code must be one of {REJECTIONS}")
        with self._lock:
            self._targets[target].rejections.extend([code] * count)

    def refuse_size_next(
        self,
        target: str,
        count: int = 1,
        wording: str | None = None,
        *,
        status: int = 400,
        html: bool = False,
    ) -> None:
        """The next `count` ExecuteStatement or BatchExecuteStatement calls naming `target` are
        refused for their size, whatever it is; nothing is created.

        status 400: a ValidationException with `wording` (default QUERY_TOO_LARGE, the
        documented one; see local.errors.SIZE_WORDINGS for others). status 413: HTTP 413 with
        a body that has no `__type` (botocore's Error.Code is then "413"), whose message is
        `wording` (default REQUEST_TOO_LARGE): JSON {"message": ...}, or with `html` the HTML
        page a proxy sends (botocore's Error.Message is then the whole page)."""
        if status not in SIZE_STATUSES:
            raise ValueError(f"status must be one of {SIZE_STATUSES}")
        _check_count(count)
        if wording is None:
            wording = QUERY_TOO_LARGE if status == 400 else REQUEST_TOO_LARGE
        with self._lock:
            self._targets[target].size_refusals.extend([(status, wording, html)] * count)

    def server_fault_next(
        self,
        target: str,
        count: int = 1,
        code: str = "InternalServerException",
        operation: str = "ExecuteStatement",
    ) -> None:
        """The next `count` calls of `operation` on `target` fail with the server fault `code`.

        ExecuteStatementException and BatchExecuteStatementException (only for their own
        operation) carry the StatementId of a statement that exists, FAILED, without having
        run; the other codes leave no trace (no statement is created, nothing is cancelled).
        """
        if code not in SERVER_FAULTS:
            raise ValueError(f"code must be one of {tuple(SERVER_FAULTS)}")
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}")
        if code in STATEMENT_FAULTS and STATEMENT_FAULTS[code] != operation:
            raise ValueError(f"{code} is an error of {STATEMENT_FAULTS[code]} only")
        self._refuse(target, operation, code, count)

    def fail_cancel_next(
        self, target: str, count: int = 1, code: str = "ThrottlingException"
    ) -> None:
        """The next `count` CancelStatement calls are refused with `code`; the statement runs on."""
        if code not in CANCEL_REFUSALS:
            raise ValueError(f"code must be one of {CANCEL_REFUSALS}")
        self._refuse(target, "CancelStatement", code, count)

    def fail_describe_next(
        self, count: int = 1, code: str = "InternalServerException", target: Target = None
    ) -> None:
        """The next `count` DescribeStatement calls (on `target`'s statements, or any) fail."""
        if code not in DESCRIBE_REFUSALS:
            raise ValueError(f"code must be one of {DESCRIBE_REFUSALS}")
        self._refuse(target, "DescribeStatement", code, count)

    def _refuse(self, target: Target, operation: str, code: str, count: int) -> None:
        _check_count(count)
        with self._lock:
            self._targets[target].refusals[operation].extend([code] * count)

    def deny_access(self, target: str) -> None:
        """Every call concerning `target` (submits naming it, calls on its statements) is
        refused with AccessDeniedException until allow_access or clear."""
        with self._lock:
            self._targets[target].denied = True

    def allow_access(self, target: str) -> None:
        with self._lock:
            self._targets[target].denied = False

    # ---- replies ------------------------------------------------------------------------

    def lose_reply_next(
        self, target: str, count: int = 1, operation: str = "ExecuteStatement"
    ) -> None:
        """The next `count` calls of `operation` on `target` take effect (a submitted statement
        is created and runs), but the server closes the connection instead of replying."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}")
        _check_count(count)
        with self._lock:
            self._targets[target].lost_replies[operation] += count

    def delay_reply_next(
        self, operation: str, seconds: float, count: int = 1, target: Target = None
    ) -> None:
        """The next `count` calls of `operation` (on `target`, or any) take effect at once, and
        their replies are held `seconds` (longer than a client's read timeout: it gives up)."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}")
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        _check_count(count)
        with self._lock:
            self._targets[target].delays[operation].extend([seconds] * count)

    # ---- cancels ------------------------------------------------------------------------

    def lose_cancel_race(self, target: str, count: int = 1) -> None:
        """The next `count` cancels answer {"Status": true} but the statement still FINISHES."""
        with self._lock:
            self._targets[target].lost_races += count

    def slow_cancel_next(
        self, target: str, count: int = 1, seconds: float = 2.0, outcome: str = "ABORTED"
    ) -> None:
        """The next `count` cancels answer {"Status": true} at once; the statement stays active
        and ends `outcome` (ABORTED or FINISHED) `seconds` later. A statement that ends by
        itself before then keeps its own end."""
        if outcome not in ("ABORTED", "FINISHED"):
            raise ValueError("outcome must be ABORTED or FINISHED")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        _check_count(count)
        end: CancelOutcome = "ABORTED" if outcome == "ABORTED" else "FINISHED"
        with self._lock:
            self._targets[target].slow_cancels.extend([(seconds, end)] * count)

    def clear(self) -> None:
        with self._lock:
            self._targets.clear()

    # ---- consumed by the service --------------------------------------------------------

    def take_rejection(self, target: str, quota: int) -> ApiError | None:
        with self._lock:
            rejections = self._targets[target].rejections
            code = rejections.popleft() if rejections else None
        if code == "ThrottlingException":
            return ThrottlingError()
        if code == "ActiveStatementsExceededException":
            return ActiveStatementsExceededError(quota)
        return None

    def refuse_values(self, target: str, text: str, error: str) -> None:
        """Every statement that binds a value containing `text` fails with `error` (no SQL of
        it commits), until clear(). Stands for what Redshift refuses and no catalog describes,
        so that only the database can find the row: bisection's case."""
        with self._lock:
            faults = self._targets[target]
            faults.refused_values = (*faults.refused_values, (text, error))

    def value_refusals(self, target: str) -> tuple[tuple[str, str], ...]:
        with self._lock:
            return self._targets[target].refused_values

    def take_statement_fault(self, target: str, *, parameterised: bool) -> StatementFault:
        """What a statement being submitted does: fail_next first, then (for one carrying
        Parameters) the parameterised failures, then fail_after_commit_next, then hang_next."""
        with self._lock:
            faults = self._targets[target]
            if faults.failures:
                return StatementFault(fail_with=faults.failures.popleft())
            if parameterised and faults.parameterised_failures:
                return StatementFault(fail_with=faults.parameterised_failures.popleft())
            if parameterised and faults.parameterised_error is not None:
                return StatementFault(fail_with=faults.parameterised_error)
            after_commit = faults.after_commit.popleft() if faults.after_commit else None
            if faults.hangs and faults.hang_after:
                faults.hang_after -= 1
            elif faults.hangs:
                faults.hangs -= 1
                return StatementFault(hang=True, fail_after_commit=after_commit)
            return StatementFault(fail_after_commit=after_commit)

    def take_size_refusal(self, target: Target) -> ApiError | None:
        """The refusal refuse_size_next queued for this submit, if any."""
        if target is None:
            return None
        with self._lock:
            queue = self._targets[target].size_refusals
            if not queue:
                return None
            status, wording, html = queue.popleft()
        if status == 413:
            return RequestTooLargeError(wording, html=html)
        return ValidationError(wording)

    def take_lost_race(self, target: str) -> bool:
        with self._lock:
            faults = self._targets[target]
            if faults.lost_races:
                faults.lost_races -= 1
                return True
            return False

    def take_slow_cancel(self, target: str) -> tuple[float, CancelOutcome] | None:
        with self._lock:
            slow = self._targets[target].slow_cancels
            return slow.popleft() if slow else None

    def take_refusal(self, operation: str, target: Target) -> str | None:
        """The error code to refuse this call with, the target's own faults first."""
        with self._lock:
            for key in (target, None) if target is not None else (None,):
                queue = self._targets[key].refusals.get(operation)
                if queue:
                    return queue.popleft()
            return None

    def is_denied(self, target: Target) -> bool:
        if target is None:
            return False
        with self._lock:
            return self._targets[target].denied

    def take_reply_fault(self, operation: str, target: Target) -> ReplyFault:
        with self._lock:
            if target is not None and self._targets[target].lost_replies.get(operation):
                self._targets[target].lost_replies[operation] -= 1
                return ReplyFault(lose=True)
            for key in (target, None) if target is not None else (None,):
                delays = self._targets[key].delays.get(operation)
                if delays:
                    return ReplyFault(delay=delays.popleft())
            return ReplyFault()
