"""One simulated cluster or workgroup: active-statement quota, query slots, table write locks,
serialized commits, and the record of each lock held and each commit."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from local.errors import ActiveStatementsExceededError
from local.model import ClusterModel
from local.statements import Statement, Status


@dataclass(frozen=True)
class CommitRecord:
    """One committed write transaction: when its commit turn began and ended (unix time), what
    the model charged for it, and what it wrote."""

    statement_id: str
    started_at: float  # its commit turn began: the cost is paid from here
    ended_at: float  # PostgreSQL had committed it
    cost_seconds: float  # commit_fixed_seconds + commit_seconds_per_kb x KB, as then modelled
    written_bytes: int  # local.writes.written_bytes of all its SQLs
    rows: int  # rows its DML reported (an INSERT's row count), summed over its SQLs
    tables: tuple[str, ...]  # database.schema.table of each table it wrote
    # PostgreSQL's id of the transaction (the low 32 bits, as each row's xmin holds it): which
    # rows this commit made visible, for the benchmark's freshness. None: not known.
    transaction_id: int | None = None
    files: int = 0  # files a COPY of it loaded


@dataclass(frozen=True)
class WriteLockHold:
    """One transaction's hold of one table's write lock (unix times; None: still held)."""

    table: str
    statement_id: str
    asked_at: float
    acquired_at: float
    released_at: float | None
    waited: bool  # another transaction held the lock, or was ahead in line, when it asked


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
    commits: tuple[CommitRecord, ...]
    write_locks: tuple[WriteLockHold, ...]
    waiting_writers: tuple[str, ...]  # ids of the statements in line for a table's write lock

    @property
    def commit_times(self) -> tuple[float, ...]:
        return tuple(commit.ended_at for commit in self.commits)


@dataclass(eq=False)
class _LockRequest:
    """A transaction in line for its tables; `wake` is set when it is granted them, or when
    something else may have changed for it (a cancel, a new model)."""

    ticket: int
    statement: Statement
    tables: frozenset[str]
    asked_at: float
    granted: bool = False
    wake: threading.Event = field(default_factory=threading.Event)


class Cluster:
    """Admits statements within the quota, runs at most `slots` at once, gives each table to one
    writer at a time (first come, first served) and commits one transaction at a time."""

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
        self._commits: list[CommitRecord] = []
        # The commit gate: one commit at a time; the executor pays the commit's cost inside it.
        self._gate = threading.Condition()
        self._gate_busy = False
        # Table write locks: table -> holder's statement id, and the requests waiting in line.
        # Each request has an event of its own: a release wakes only those it lets in (waking
        # every waiter of a busy table would cost each grant a scramble for the GIL).
        self._tables = threading.Lock()
        self._holders: dict[str, str] = {}
        self._waiting: list[_LockRequest] = []
        self._tickets = 0
        self._holds: list[WriteLockHold] = []
        self._open_holds: dict[str, list[int]] = {}  # statement id -> indexes into _holds

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

    # ---- table write locks ------------------------------------------------------------------

    def acquire_tables(self, statement: Statement, tables: frozenset[str]) -> bool:
        """Take the write lock of every table in `tables` at once, waiting behind their holders
        and behind earlier requests for any of them; False if the statement was cancelled.

        All at once, not table by table at each SQL: two transactions that write the same
        tables in a different order then never deadlock (Redshift would detect the deadlock and
        fail one of them; nothing here writes two tables in one transaction).
        """
        if not tables or not self.model.one_writer_per_table:
            return True
        with self._tables:
            self._tickets += 1
            request = _LockRequest(self._tickets, statement, tables, time.time())
            self._waiting.append(request)
            self._grant_locked(asking=request)
        while True:
            request.wake.wait()
            with self._tables:
                request.wake.clear()
                if request.granted:
                    return True
                if statement.should_abort or not self.model.one_writer_per_table:
                    # Out of line: whoever waited only behind it may go now.
                    self._waiting.remove(request)
                    self._grant_locked()
                    return not statement.should_abort

    def _grant_locked(self, asking: _LockRequest | None = None) -> None:
        """Give their tables to the requests in line that can have them now, in ticket order:
        a request goes when none of its tables is held or wanted by an earlier request.
        `asking`: the request just made, which did not wait if it goes now."""
        wanted: set[str] = set()
        for request in list(self._waiting):
            if not wanted & request.tables and not any(t in self._holders for t in request.tables):
                self._waiting.remove(request)
                self._hold_locked(request, waited=request is not asking)
            wanted |= request.tables

    def _hold_locked(self, request: _LockRequest, *, waited: bool) -> None:
        now = time.time()
        indexes = self._open_holds.setdefault(request.statement.id, [])
        for table in sorted(request.tables):
            self._holders[table] = request.statement.id
            indexes.append(len(self._holds))
            self._holds.append(
                WriteLockHold(table, request.statement.id, request.asked_at, now, None, waited)
            )
        request.granted = True
        request.wake.set()

    def release_tables(self, statement: Statement) -> None:
        """Release what the statement holds (nothing: no-op), and let the next in line in."""
        with self._tables:
            indexes = self._open_holds.pop(statement.id, [])
            if not indexes:
                return
            now = time.time()
            for index in indexes:
                hold = self._holds[index]
                self._holds[index] = replace(hold, released_at=now)
                del self._holders[hold.table]
            self._grant_locked()

    # ---- commits ------------------------------------------------------------------------------

    def acquire_commit(self, statement: Statement) -> bool:
        """Wait for this cluster's commit turn; False if the statement was cancelled."""
        with self._gate:
            while self._gate_busy:
                if statement.should_abort:
                    self._gate.notify()  # pass on a wake-up this thread may have consumed
                    return False
                self._gate.wait()
            if statement.should_abort:
                self._gate.notify()
                return False
            self._gate_busy = True
            return True

    def release_commit(self, record: CommitRecord | None) -> None:
        """End this cluster's commit turn; `record` is the commit made, None if none was."""
        with self._gate:
            self._gate_busy = False
            if record is not None:
                self._commits.append(record)
            self._gate.notify()

    def wake_gate(self) -> None:
        """Wake every statement waiting for a commit turn or a table (after a cancel)."""
        with self._gate:
            self._gate.notify_all()
        with self._tables:
            for request in self._waiting:
                request.wake.set()

    def idle(self) -> bool:
        with self._lock:
            return self._running == 0 and not self._queue

    def stats(self) -> ClusterStats:
        with self._lock, self._gate, self._tables:
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
                commits=tuple(self._commits),
                write_locks=tuple(self._holds),
                waiting_writers=tuple(r.statement.id for r in self._waiting),
            )
