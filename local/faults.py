"""Faults injected per cluster or workgroup: each applies to the next N submits or statements."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from local.errors import ActiveStatementsExceededError, ApiError, ThrottlingError

DEFAULT_FAILURE = "ERROR: injected failure"
REJECTIONS = ("ActiveStatementsExceededException", "ThrottlingException")


@dataclass
class _TargetFaults:
    failures: deque[str] = field(default_factory=deque)
    hangs: int = 0
    hang_after: int = 0  # statements to let through before the hangs start
    rejections: deque[str] = field(default_factory=deque)
    lost_races: int = 0


class Faults:
    """Thread-safe counters, consumed by the service in submit (or cancel) order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: defaultdict[str, _TargetFaults] = defaultdict(_TargetFaults)

    def fail_next(self, target: str, count: int = 1, error: str = DEFAULT_FAILURE) -> None:
        """The next `count` statements end FAILED with `error` (no SQL runs)."""
        with self._lock:
            self._targets[target].failures.extend([error] * count)

    def hang_next(self, target: str, count: int = 1, after: int = 0) -> None:
        """After `after` normal statements, the next `count` stay STARTED until cancelled."""
        with self._lock:
            self._targets[target].hangs += count
            self._targets[target].hang_after = after

    def reject_next(
        self, target: str, count: int = 1, code: str = "ActiveStatementsExceededException"
    ) -> None:
        """The next `count` submits fail with `code` (one of REJECTIONS)."""
        if code not in REJECTIONS:
            raise ValueError(f"code must be one of {REJECTIONS}")
        with self._lock:
            self._targets[target].rejections.extend([code] * count)

    def lose_cancel_race(self, target: str, count: int = 1) -> None:
        """The next `count` cancels answer {"Status": true} but the statement still FINISHES."""
        with self._lock:
            self._targets[target].lost_races += count

    def clear(self) -> None:
        with self._lock:
            self._targets.clear()

    def take_rejection(self, target: str, quota: int) -> ApiError | None:
        with self._lock:
            rejections = self._targets[target].rejections
            code = rejections.popleft() if rejections else None
        if code == "ThrottlingException":
            return ThrottlingError()
        if code == "ActiveStatementsExceededException":
            return ActiveStatementsExceededError(quota)
        return None

    def take_statement_fault(self, target: str) -> tuple[str | None, bool]:
        """(error to fail with, whether to hang) for a statement being submitted."""
        with self._lock:
            faults = self._targets[target]
            if faults.failures:
                return faults.failures.popleft(), False
            if faults.hangs and faults.hang_after:
                faults.hang_after -= 1
            elif faults.hangs:
                faults.hangs -= 1
                return None, True
            return None, False

    def take_lost_race(self, target: str) -> bool:
        with self._lock:
            faults = self._targets[target]
            if faults.lost_races:
                faults.lost_races -= 1
                return True
            return False
