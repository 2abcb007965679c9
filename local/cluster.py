"""One simulated cluster or workgroup: active-statement quota, query slots, paced commits."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from local.errors import ActiveStatementsExceededError
from local.model import ClusterModel
from local.statements import Statement, Status


@dataclass(frozen=True)
class ClusterStats:
    """A snapshot of one cluster's counters; `timeline` holds (unix time, active statements)."""

    name: str
    active: int
    peak_active: int
    running: int
    queued: int
    submitted: int
    finished: int
    failed: int
    aborted: int
    rejected: int
    timeline: tuple[tuple[float, int], ...]
    commit_times: tuple[float, ...]


class Cluster:
    """Admits statements within the quota, runs at most `slots` at once, paces commits."""

    def __init__(
        self,
        name: str,
        model: ClusterModel,
        runner: Callable[[Statement, Cluster], None],
        max_running: int,
    ) -> None:
        self.name = name
        self.model = model
        self._runner = runner
        self._max_running = max_running
        self._lock = threading.Lock()
        self._queue: deque[Statement] = deque()
        self._running = 0
        self._active = 0
        self._peak = 0
        self._counts: Counter[str] = Counter()
        self._timeline: list[tuple[float, int]] = [(time.time(), 0)]
        self._commit_times: list[float] = []
        # The commit gate: one commit at a time, at most statements_per_second of them.
        self._gate = threading.Condition()
        self._gate_busy = False
        self._next_commit = 0.0

    @property
    def _slots(self) -> int:
        slots = self.model.slots
        return self._max_running if slots is None else min(slots, self._max_running)

    def set_model(self, model: ClusterModel) -> None:
        with self._lock:
            self.model = model
            self._dispatch_locked()
        self.wake_gate()

    def _record_locked(self) -> None:
        self._peak = max(self._peak, self._active)
        self._timeline.append((time.time(), self._active))

    def admit(self, statement: Statement, on_admit: Callable[[], None] | None = None) -> None:
        """Queue a new statement, or raise ActiveStatementsExceededException.

        `on_admit` runs once the quota let it in and before it can start (to attach faults).
        """
        with self._lock:
            if self._active >= self.model.active_quota:
                self._counts["rejected"] += 1
                raise ActiveStatementsExceededError(self.model.active_quota)
            if on_admit is not None:
                on_admit()
            self._active += 1
            self._counts["submitted"] += 1
            self._record_locked()
            self._queue.append(statement)
            self._dispatch_locked()

    def _dispatch_locked(self) -> None:
        while self._queue and self._running < self._slots:
            statement = self._queue.popleft()
            with statement.cond:
                if not statement.set_status(Status.PICKED):
                    continue  # cancelled while queued
            self._running += 1
            threading.Thread(
                target=self._run, args=(statement,), name=f"stmt-{statement.id[:8]}", daemon=True
            ).start()

    def _run(self, statement: Statement) -> None:
        try:
            self._runner(statement, self)
        finally:
            with self._lock:
                self._running -= 1
                self._dispatch_locked()

    def unqueue(self, statement: Statement) -> bool:
        """Take a statement out of the queue (for a cancel); False if it was not waiting."""
        with self._lock:
            try:
                self._queue.remove(statement)
            except ValueError:
                return False
            return True

    def end(self, statement: Statement, status: Status, error: str | None = None) -> bool:
        """Move a statement to a terminal status and count it; False if it had already ended."""
        with statement.cond:
            if not statement.set_status(status, error):
                return False
        with self._lock:
            self._active -= 1
            self._counts[status.value.lower()] += 1
            self._record_locked()
        return True

    def acquire_commit(self, statement: Statement) -> bool:
        """Wait for this cluster's next commit turn; False if the statement was cancelled."""
        rate = self.model.statements_per_second
        with self._gate:
            while True:
                if statement.should_abort:
                    self._gate.notify()  # pass on a wake-up this thread may have consumed
                    return False
                now = time.monotonic()
                if not self._gate_busy and (rate is None or now >= self._next_commit):
                    self._gate_busy = True
                    return True
                self._gate.wait(None if self._gate_busy else self._next_commit - now)

    def release_commit(self, committed: bool) -> None:
        with self._gate:
            self._gate_busy = False
            rate = self.model.statements_per_second
            if committed:
                self._commit_times.append(time.time())
                if rate is not None:
                    self._next_commit = time.monotonic() + 1.0 / rate
            self._gate.notify()

    def wake_gate(self) -> None:
        with self._gate:
            self._gate.notify_all()

    def idle(self) -> bool:
        with self._lock:
            return self._running == 0 and not self._queue

    def stats(self) -> ClusterStats:
        with self._lock, self._gate:
            return ClusterStats(
                name=self.name,
                active=self._active,
                peak_active=self._peak,
                running=self._running,
                queued=len(self._queue),
                submitted=self._counts["submitted"],
                finished=self._counts["finished"],
                failed=self._counts["failed"],
                aborted=self._counts["aborted"],
                rejected=self._counts["rejected"],
                timeline=tuple(self._timeline),
                commit_times=tuple(self._commit_times),
            )
