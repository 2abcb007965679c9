"""Test doubles for our own logic: a scriptable Data API client, a clock that sleeps instantly."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


class FakeClock:
    """Monotonic time that advances only when someone sleeps: deadlines without waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


def client_error(
    code: str, message: str = "boom", operation: str = "ExecuteStatement"
) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeStatement:
    id: str
    target: str
    sql: str
    parameters: dict[str, str]
    status: str = "SUBMITTED"
    error: str | None = None
    hang: bool = False


@dataclass
class FakeDataApi:
    """Mimics the redshift-data client methods the handler calls.

    A statement FAILS with `poison_error` when any of its parameter values is in `poison`;
    `submit_errors` are raised, in order, by the next ExecuteStatement calls; `hang_next`
    statements stay STARTED until cancelled; `cancel_loses_race` makes a cancel find them FINISHED.
    """

    poison: set[str] = field(default_factory=set)
    poison_error: str = "value too long for type character varying(255)"
    fail_all_error: str | None = None
    submit_errors: dict[str, list[ClientError]] = field(default_factory=dict)
    hang_next: int = 0
    cancel_loses_race: bool = False
    answer_with_status: bool = True
    on_execute: Callable[[FakeStatement], None] | None = None
    statements: list[FakeStatement] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    peak_active: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def execute_statement(self, **request: Any) -> dict[str, Any]:
        target = request.get("ClusterIdentifier") or request.get("WorkgroupName") or "?"
        with self._lock:
            self.calls.append("ExecuteStatement")
            errors = self.submit_errors.get(target) or self.submit_errors.get("*")
            if errors:
                raise errors.pop(0)
            token = request.get("ClientToken")
            if token and token in self.tokens:
                return {"Id": self.tokens[token]}
            params = {p["name"]: p["value"] for p in request.get("Parameters", [])}
            statement = FakeStatement(f"stmt-{next(self._ids)}", target, request["Sql"], params)
            if token:
                self.tokens[token] = statement.id
            self.statements.append(statement)
            if self.hang_next > 0:
                self.hang_next -= 1
                statement.hang = True
                statement.status = "STARTED"
            elif self.fail_all_error is not None:
                statement.status, statement.error = "FAILED", self.fail_all_error
            elif self.poison & set(params.values()):
                statement.status, statement.error = "FAILED", self.poison_error
            else:
                statement.status = "FINISHED"
            self.active[target] = self.active.get(target, 0) + 1
            self.peak_active[target] = max(self.peak_active.get(target, 0), self.active[target])
            if not statement.hang:
                self.active[target] -= 1
        if self.on_execute is not None:
            self.on_execute(statement)
        response: dict[str, Any] = {"Id": statement.id}
        if self.answer_with_status and "WaitTimeSeconds" in request:
            response["Status"] = statement.status
        return response

    def describe_statement(self, Id: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append("DescribeStatement")
            statement = self._find(Id)
            described: dict[str, Any] = {"Id": Id, "Status": statement.status}
            if statement.error:
                described["Error"] = statement.error
            return described

    def cancel_statement(self, Id: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append("CancelStatement")
            statement = self._find(Id)
            if statement.status in ("FINISHED", "FAILED", "ABORTED"):
                raise client_error(
                    "ValidationException",
                    f"Could not cancel a query that is already in {statement.status} status",
                    "CancelStatement",
                )
            statement.status = "FINISHED" if self.cancel_loses_race else "ABORTED"
            self.active[statement.target] -= 1
            return {"Status": True}

    def _find(self, statement_id: str) -> FakeStatement:
        for statement in self.statements:
            if statement.id == statement_id:
                return statement
        raise client_error(
            "ResourceNotFoundException", "Query does not exist.", "DescribeStatement"
        )

    def finished_values(self, target: str) -> list[str]:
        """Parameter values of every FINISHED statement on a target (message ids among them)."""
        return [
            value
            for s in self.statements
            if s.target == target and s.status == "FINISHED"
            for value in s.parameters.values()
        ]
