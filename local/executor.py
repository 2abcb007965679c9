"""Runs one statement on PostgreSQL within its cluster's model: latency, faults, table write locks,
one transaction and its paid-for commit.

What the model charges is modelled time, not this machine's: a transaction that only appends
(INSERT ... VALUES, COPY from a file, reads) runs on PostgreSQL before it asks for its tables'
write locks, because its result cannot depend on another writer's; only the model's commit turn
and cost are then spent holding them. A transaction that reads what it writes (UPDATE, DELETE,
MERGE, INSERT ... SELECT) takes the locks at its first write, as Redshift's serializable
isolation needs, and PostgreSQL's execution is then inside them (issue 20: on a shared 2-core
machine the host's speed otherwise leaked into every cluster-bound figure)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

import psycopg

from local.cluster import Cluster, CommitRecord
from local.databases import Databases
from local.loads import appends_only, loaded_files
from local.redshift_errors import error_text
from local.results import result_set
from local.statements import Statement, Status
from local.translate import TooManyBindsError
from local.writes import reads_only, written_bytes, written_table

log = logging.getLogger(__name__)

_NUL_ERROR = 'ERROR: invalid byte sequence for encoding "UTF8": 0x00'


class _Aborted(Exception):
    pass


class _Failed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class _Writes:
    """What the model charges a statement for, read before it runs (its values are dropped
    once it ends)."""

    tables: tuple[str | None, ...]  # per SQL: the table it writes, if it is DML
    reads_only: bool  # nothing to commit: no commit turn, no cost
    written_bytes: int  # the SQLs' text and values, plus the bytes of the files COPY loads
    appends_only: bool  # no SQL reads what another writer may write: runs before the lock
    files: int  # files COPY loads (the model charges each)

    @classmethod
    def of(cls, statement: Statement) -> _Writes:
        sqls = [sub.sql for sub in statement.subs]
        files = loaded_files(sqls)
        return cls(
            tables=tuple(written_table(sql, statement.database) for sql in sqls),
            reads_only=reads_only(sqls),
            written_bytes=written_bytes(sqls, statement.values) + sum(files.values()),
            appends_only=appends_only(sqls),
            files=len(files),
        )

    @property
    def all_tables(self) -> frozenset[str]:
        return frozenset(table for table in self.tables if table is not None)


class Executor:
    """The runner a Cluster calls in a thread of its own for each statement it dispatches."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases
        self._query_ids = itertools.count(1000)
        self._query_id_lock = threading.Lock()

    def reset_query_ids(self) -> None:
        """Number queries from 1000 again (between tests: the texts that carry query ids, such
        as the DETAIL blocks of local.redshift_errors, repeat run after run)."""
        with self._query_id_lock:
            self._query_ids = itertools.count(1000)

    def _next_query_id(self) -> int:
        with self._query_id_lock:
            return next(self._query_ids)

    def __call__(self, statement: Statement, cluster: Cluster) -> None:
        try:
            self._run(statement, cluster)
        except _Aborted:
            self._end_subs(statement, Status.ABORTED)
            cluster.end(statement, Status.ABORTED)
        except _Failed as failure:
            cluster.end(statement, Status.FAILED, failure.error)
        except Exception as exc:  # a bug or a lost server must not leave a statement active
            log.exception("statement %s crashed", statement.id)
            error = error_text(exc, query_id=max(sub.query_id for sub in statement.subs))
            self._end_subs(statement, Status.FAILED, error)
            cluster.end(statement, Status.FAILED, error)

    @staticmethod
    def _checkpoint(statement: Statement) -> None:
        if statement.should_abort:
            raise _Aborted

    def _run(self, statement: Statement, cluster: Cluster) -> None:
        with statement.cond:
            if statement.should_abort or not statement.set_status(Status.STARTED):
                raise _Aborted
            writes = _Writes.of(statement)
        model = cluster.model
        if model.latency_seconds > 0:
            statement.sleep(model.latency_seconds)
            self._checkpoint(statement)
        if statement.hang:
            # Wait for a cancel (abort) or a cancel that lost the race (run on).
            statement.wake.wait()
            self._checkpoint(statement)
        if statement.fail_with is not None:
            self._end_subs(statement, Status.FAILED, statement.fail_with, first_only=True)
            raise _Failed(statement.fail_with)
        conn = self._databases.acquire(statement.target, statement.database)
        try:
            with statement.cond:
                statement.conn = conn
                statement.redshift_pid = conn.info.backend_pid
            self._execute(statement, cluster, conn, writes)
            if writes.appends_only and not cluster.acquire_tables(statement, writes.all_tables):
                raise _Aborted  # cancelled while in line for the lock, after it ran
            self._commit(statement, cluster, conn, writes)
        finally:
            cluster.release_tables(statement)  # a failed or aborted one's: it never committed
            with statement.cond:
                statement.conn = None
            self._release(statement, conn)

    def _release(self, statement: Statement, conn: psycopg.Connection) -> None:
        # A cancelled statement's connection may still receive the cancel request late: retire it.
        # One closed by fail_after_commit is gone.
        discard = statement.abort_requested or conn.broken or conn.closed
        if not discard and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.rollback()
            except psycopg.Error:
                discard = True
        self._databases.release(conn, discard=discard)

    def _execute(
        self, statement: Statement, cluster: Cluster, conn: psycopg.Connection, writes: _Writes
    ) -> None:
        values = statement.values or {}
        cursor = psycopg.RawCursor(conn)
        locked = writes.appends_only  # those take their locks once they have run (_run)
        for index, sub in enumerate(statement.subs):
            self._checkpoint(statement)
            if writes.tables[index] is not None and not locked:
                # From the transaction's first write until its commit ends.
                if not cluster.acquire_tables(statement, writes.all_tables):
                    raise _Aborted
                locked = True
            with statement.cond:
                sub.query_id = self._next_query_id()
                sub.set_status(Status.STARTED)
            query: str = ""
            args: list[str] = []
            try:
                assert sub.translation is not None
                if sub.translation.error is not None:
                    raise _Failed(sub.translation.error)
                query, args = sub.translation.bind(values, statement.bind_mode)
                if "\x00" in query or any("\x00" in arg for arg in args):
                    raise _Failed(_NUL_ERROR)
                for text, error in statement.refused_values:
                    if any(text in arg for arg in args):
                        raise _Failed(error)
                cursor.execute(query, args or None)
                rows = cursor.fetchall() if cursor.description is not None else None
            except TooManyBindsError as exc:
                self._fail_at(statement, index, str(exc))
            except _Failed as failure:
                self._fail_at(statement, index, failure.error)
            except psycopg.errors.QueryCanceled as exc:
                if statement.abort_requested:
                    raise _Aborted from exc
                self._fail_at(statement, index, self._error(exc, sub.query_id, query, args))
            except psycopg.Error as exc:
                self._fail_at(statement, index, self._error(exc, sub.query_id, query, args))
            with statement.cond:
                if rows is not None:
                    sub.has_result_set = True
                    sub.result = result_set(cursor, rows)
                    sub.result_rows = len(rows)
                else:
                    sub.result_rows = cursor.rowcount
                if statement.is_batch:
                    # "Subsequent SQL statements don't start until the previous statement in
                    # the array completes" (BatchExecuteStatement's Sqls): a batch's SQL reports
                    # FINISHED once it ran, though only the batch's commit makes its work last.
                    sub.set_status(Status.FINISHED)

    @staticmethod
    def _error(exc: psycopg.Error, query_id: int, query: str, args: list[str]) -> str:
        return error_text(exc, query_id=query_id, sql=query, parameterised=bool(args))

    def _fail_at(self, statement: Statement, index: int, error: str) -> None:
        """The SQL at `index` FAILED and the transaction rolls back. Those before it stay
        FINISHED (they ran); those after it never start and end ABORTED. What the service
        reports for them is undocumented: the client reads only the FAILED one."""
        with statement.cond:
            for position, sub in enumerate(statement.subs):
                if position == index:
                    sub.set_status(Status.FAILED, error)
                    sub.result = None
                elif sub.status.active:
                    sub.set_status(Status.ABORTED)
        raise _Failed(error)

    def _commit(
        self, statement: Statement, cluster: Cluster, conn: psycopg.Connection, writes: _Writes
    ) -> None:
        queued = not writes.reads_only  # a read-only transaction has no commit to queue for
        # Which rows this commit makes visible: PostgreSQL stamps each row with the id of the
        # transaction that wrote it (xmin), so a row's commit time can be read from the records.
        transaction_id = self._transaction_id(conn) if queued else None
        if queued and not cluster.acquire_commit(statement):
            raise _Aborted
        record: CommitRecord | None = None
        try:
            with statement.cond:
                if statement.should_abort:
                    raise _Aborted
                statement.committing = True
            started = time.time()
            cost = (
                cluster.model.commit_seconds(writes.written_bytes, files=writes.files)
                if queued
                else 0.0
            )
            if cost > 0:
                # Past the point of no return (a cancel now waits for the outcome): not
                # statement.sleep, which a lost cancel race would cut short.
                time.sleep(cost)
            try:
                conn.commit()
            except psycopg.Error as exc:
                last = statement.subs[-1]
                self._fail_at(
                    statement, len(statement.subs) - 1, error_text(exc, query_id=last.query_id)
                )
            if queued:
                record = CommitRecord(
                    statement_id=statement.id,
                    started_at=started,
                    ended_at=time.time(),
                    cost_seconds=cost,
                    written_bytes=writes.written_bytes,
                    rows=sum(
                        max(sub.result_rows, 0)
                        for sub, table in zip(statement.subs, writes.tables, strict=True)
                        if table is not None
                    ),
                    tables=tuple(sorted(writes.all_tables)),
                    transaction_id=transaction_id,
                    files=writes.files,
                )
        finally:
            if queued:
                cluster.release_commit(record)
        cluster.release_tables(statement)
        if statement.fail_after_commit is not None:
            self._lost_after_commit(statement, cluster, conn, statement.fail_after_commit)
            return
        self._end_subs(statement, Status.FINISHED)
        cluster.end(statement, Status.FINISHED)

    @staticmethod
    def _transaction_id(conn: psycopg.Connection) -> int | None:
        """The 32-bit id PostgreSQL stamps on the rows this transaction wrote (None: it wrote
        none). txid_current_if_assigned is 64-bit (epoch-extended); xmin is its low 32 bits."""
        row = conn.execute("SELECT txid_current_if_assigned()").fetchone()
        return None if row is None or row[0] is None else int(row[0]) % 2**32

    @staticmethod
    def _lost_after_commit(
        statement: Statement, cluster: Cluster, conn: psycopg.Connection, error: str
    ) -> None:
        """fail_after_commit_next: the commit took effect, then the connection went. The last
        SQL (the one the commit ends) is FAILED with `error`; a batch's SQLs before it stay
        FINISHED; the statement is FAILED, with no result to read."""
        conn.close()
        with statement.cond:
            last = statement.subs[-1]
            last.set_status(Status.FAILED, error)
            last.result = None
            last.has_result_set = False
        cluster.end(statement, Status.FAILED, error)

    @staticmethod
    def _end_subs(
        statement: Statement, status: Status, error: str | None = None, *, first_only: bool = False
    ) -> None:
        with statement.cond:
            for position, sub in enumerate(statement.subs):
                if sub.status.active:
                    if first_only and position > 0:
                        sub.set_status(Status.ABORTED)
                    else:
                        sub.set_status(status, error)
