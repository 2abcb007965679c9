"""Statements and their state machine: SUBMITTED -> PICKED -> STARTED -> FINISHED/FAILED/ABORTED."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg

from local.translate import BindMode, Translation


class Status(StrEnum):
    SUBMITTED = "SUBMITTED"
    PICKED = "PICKED"
    STARTED = "STARTED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def active(self) -> bool:
        return self in (Status.SUBMITTED, Status.PICKED, Status.STARTED)


def _duration_ns(started_at: float | None, ended_at: float | None) -> int:
    """Run time so far in nanoseconds, as the Data API reports it (0 before it starts)."""
    if started_at is None:
        return 0
    end = ended_at if ended_at is not None else time.time()
    return int((end - started_at) * 1e9)


@dataclass
class ResultSet:
    columns: list[dict[str, Any]]
    records: list[list[dict[str, Any]]]
    size: int  # bytes, roughly as the Data API's ResultSize counts them


@dataclass(eq=False)
class SubStatement:
    """One SQL string: the whole of an ExecuteStatement, or one of a batch's."""

    id: str
    sql: str
    translation: Translation | None  # dropped once run: the cache holds the shared copies
    created_at: float
    updated_at: float
    status: Status = Status.SUBMITTED
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    has_result_set: bool = False
    result_rows: int = -1
    result: ResultSet | None = None
    query_id: int = 0

    def set_status(self, status: Status, error: str | None = None) -> None:
        _stamp(self, status, error)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.id,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
            "Duration": _duration_ns(self.started_at, self.ended_at),
            "Status": self.status.value,
            "HasResultSet": self.has_result_set,
            "QueryString": self.sql,
            "ResultRows": self.result_rows,
            "ResultSize": self.result.size if self.result is not None else -1,
            "RedshiftQueryId": self.query_id,
        }
        if self.error is not None:
            out["Error"] = self.error
        return out


@dataclass(eq=False)
class Statement:
    """What ExecuteStatement or BatchExecuteStatement submitted, with its run-time controls."""

    id: str
    target: str
    target_field: str  # "ClusterIdentifier" or "WorkgroupName", echoed as given
    database: str
    subs: list[SubStatement]
    is_batch: bool
    created_at: float
    db_user: str | None = None
    secret_arn: str | None = None
    statement_name: str | None = None
    parameters: list[dict[str, str]] | None = None  # as given, for QueryParameters
    values: dict[str, str] | None = None  # for binding; dropped once run
    bind_mode: BindMode = "per-occurrence"
    status: Status = Status.SUBMITTED
    updated_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    redshift_pid: int = 0
    # Injected faults, decided at submit time so that "the next N" is deterministic.
    fail_with: str | None = None
    hang: bool = False
    fail_after_commit: str | None = None  # commit, then end FAILED with this (a lost connection)
    refused_values: tuple[tuple[str, str], ...] = ()  # see Faults.refuse_values
    # Coordination between the worker running it and CancelStatement.
    cond: threading.Condition = field(default_factory=threading.Condition)
    wake: threading.Event = field(default_factory=threading.Event)
    abort_requested: bool = False
    finish_anyway: bool = False  # a cancel that lost the race: run to the end regardless
    committing: bool = False
    conn: psycopg.Connection | None = None

    def __post_init__(self) -> None:
        self.updated_at = self.created_at

    @property
    def should_abort(self) -> bool:
        return self.abort_requested and not self.finish_anyway

    def set_status(self, status: Status, error: str | None = None) -> bool:
        """Move to `status` (caller holds `cond`); False if it had already ended."""
        if not self.status.active:
            return False
        _stamp(self, status, error)
        if not status.active:
            self.values = None
            for sub in self.subs:
                sub.translation = None
        self.cond.notify_all()
        return True

    def wait_ended(self, timeout: float) -> Status:
        with self.cond:
            self.cond.wait_for(lambda: not self.status.active, timeout)
            return self.status

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake early when cancelled (the caller checks `should_abort`)."""
        self.wake.wait(seconds)

    def describe(self) -> dict[str, Any]:
        rows = [sub.result_rows for sub in self.subs]
        sizes = [sub.result.size for sub in self.subs if sub.result is not None]
        out: dict[str, Any] = {
            "Id": self.id,
            self.target_field: self.target,
            "Database": self.database,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
            "Duration": _duration_ns(self.started_at, self.ended_at),
            "Status": self.status.value,
            "HasResultSet": any(sub.has_result_set for sub in self.subs),
            "ResultRows": sum(rows) if all(r >= 0 for r in rows) else -1,
            "ResultSize": sum(sizes) if sizes else -1,
            "RedshiftPid": self.redshift_pid,
            "RedshiftQueryId": self.subs[-1].query_id,
        }
        out.update(self.identity())
        if self.is_batch:
            out["SubStatements"] = [sub.describe() for sub in self.subs]
        else:
            out["QueryString"] = self.subs[0].sql
        if self.error is not None:
            out["Error"] = self.error
        if self.parameters is not None:
            out["QueryParameters"] = self.parameters
        return out

    def identity(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.target_field: self.target, "Database": self.database}
        if self.db_user is not None:
            out["DbUser"] = self.db_user
        if self.secret_arn is not None:
            out["SecretArn"] = self.secret_arn
        return out

    def list_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.id,
            "Status": self.status.value,
            "CreatedAt": self.created_at,
            "UpdatedAt": self.updated_at,
            "IsBatchStatement": self.is_batch,
        }
        if self.is_batch:
            out["QueryStrings"] = [sub.sql for sub in self.subs]
        else:
            out["QueryString"] = self.subs[0].sql
        if self.statement_name is not None:
            out["StatementName"] = self.statement_name
        if self.secret_arn is not None:
            out["SecretArn"] = self.secret_arn
        if self.parameters is not None:
            out["QueryParameters"] = self.parameters
        return out


def _stamp(record: SubStatement | Statement, status: Status, error: str | None) -> None:
    """The timestamps and error a status change records, the same for statements and parts."""
    now = time.time()
    record.status = status
    record.updated_at = now
    if status is Status.STARTED:
        record.started_at = now
    elif not status.active:
        record.ended_at = now
        record.error = error
