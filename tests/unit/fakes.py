"""Test doubles for our own logic: a scriptable Data API client, a clock that sleeps instantly."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Unpack

from botocore.exceptions import ClientError, ReadTimeoutError

from ingest.catalog import CATALOG_QUERY
from ingest.claim import CHECK_SQL_START as CLAIM_CHECK_START
from ingest.ports import (
    BatchExecuteStatementReply,
    BatchExecuteStatementRequest,
    CancelStatementReply,
    DescribeStatementReply,
    ExecuteStatementReply,
    ExecuteStatementRequest,
    GetStatementResultRequest,
    ListedStatement,
    ListStatementsReply,
    ListStatementsRequest,
    StatementResultPage,
    SubStatement,
)
from ingest.probe import ROLLBACK_SQL
from ingest.schema import TableSchema
from local.appsflyer import appsflyer_schema


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
    """A submitted statement: one SQL, or a batch of them (`sqls`; `sql` is then the first)."""

    id: str
    target: str
    sql: str
    parameters: dict[str, str]
    name: str = ""
    status: str = "SUBMITTED"
    error: str | None = None
    hang: bool = False
    result: list[list[str | None]] = field(default_factory=list)  # a SELECT's rows
    sqls: tuple[str, ...] = ()  # a batch's SQL strings, in order; () for ExecuteStatement
    failed_part: int | None = None  # a FAILED batch's SQL that failed (0-based)

    def parts(self) -> list[FakeStatement]:
        """Each SQL as a statement of its own (id `<id>:<n>`, its own parameters only) with
        the whole statement's status: what it wrote is committed only if that FINISHED."""
        if not self.sqls:
            return [self]
        return [
            FakeStatement(
                f"{self.id}:{n}",
                self.target,
                sql,
                {k: v for k, v in self.parameters.items() if k in used},
                self.name,
                self.status,
            )
            for n, sql in enumerate(self.sqls, 1)
            for used in [placeholders(sql)]
        ]


GUARD_SQL_START = "SELECT 1 / CASE WHEN COUNT(*) = CAST("  # column_guard.py


def placeholders(sql: str) -> set[str]:
    """The parameter names an SQL string uses (`:name`, not a `::type` cast)."""
    return set(re.findall(r"(?<![:\w]):(\w+)", sql))


@dataclass
class FakeDataApi:
    """Mimics the redshift-data client methods the function calls (an ingest.ports.DataApiClient).

    An INSERT FAILS with `poison_error` when any of its parameter values is in `poison`, and
    every statement with `fail_all_error` when it is set;
    BatchExecuteStatement runs its SQLs as one statement: it FAILS at the first SQL that uses a
    poisoned value (at its first SQL for `fail_all_error`), and DescribeStatement reports
    SubStatements (`<id>:<n>`: FINISHED before the failed one, FAILED with the error, ABORTED
    after) unless `describe_sub_statements` is False; `batch_error` replaces a failed batch's
    own Error (the failed SQL's error by default);
    a SELECT answers with the parameter values (ids) that FINISHED INSERTs on its target carried;
    `submit_errors` are raised, in order, by the next ExecuteStatement calls (after the statement
    was created when `lost_replies`); `hang_next` statements stay STARTED until cancelled;
    `cancel_errors` refuse the next cancels; `cancel_loses_race` makes a cancel find them
    FINISHED; `describe_errors` fail the next describes; `list_errors` fail ListStatements.
    """

    poison: set[str] = field(default_factory=set)
    poison_error: str = "value too long for type character varying(255)"
    fail_all_error: str | None = None
    # Every statement that binds parameters FAILS with this (at its first SQL that does).
    fail_parameterised_error: str | None = None
    guard_alone_error: str | None = None  # the column guard, asked alone, FAILS with this
    lock_error: str | None = None  # a claim's LOCK (claim.py) FAILS with this
    submit_errors: dict[str, list[Any]] = field(default_factory=dict)  # exceptions to raise
    lost_replies: int = 0  # the next submits create their statement, then the reply is lost
    hang_next: int = 0
    cancel_errors: list[Any] = field(default_factory=list)
    cancel_loses_race: bool = False
    describe_errors: list[Any] = field(default_factory=list)
    list_errors: list[Any] = field(default_factory=list)
    answer_with_status: bool = True
    # What the catalog query answers (the example table unless a test gives another), and
    # per target (cluster or workgroup) where targets' tables differ.
    table: TableSchema = field(default_factory=appsflyer_schema)
    describe_sub_statements: bool = True
    batch_error: str | None = None
    tables: dict[str, TableSchema] = field(default_factory=dict)
    on_execute: Callable[[FakeStatement], None] | None = None
    statements: list[FakeStatement] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    peak_active: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def execute_statement(
        self, **request: Unpack[ExecuteStatementRequest]
    ) -> ExecuteStatementReply:
        return self._submit("ExecuteStatement", (request["Sql"],), request)

    def batch_execute_statement(
        self, **request: Unpack[BatchExecuteStatementRequest]
    ) -> BatchExecuteStatementReply:
        return self._submit("BatchExecuteStatement", tuple(request["Sqls"]), request)

    def _submit(
        self,
        operation: str,
        sqls: tuple[str, ...],
        request: ExecuteStatementRequest | BatchExecuteStatementRequest,
    ) -> ExecuteStatementReply:
        target = request.get("ClusterIdentifier") or request.get("WorkgroupName") or "?"
        with self._lock:
            self.calls.append(operation)
            lose_reply = self.lost_replies > 0
            errors = self.submit_errors.get(target) or self.submit_errors.get("*")
            if errors and not lose_reply:
                raise errors.pop(0)
            token = request.get("ClientToken")
            if token and token in self.tokens:
                existing = self._find(self.tokens[token])
                return self._answer(existing, request)
            statement = self._create(target, sqls, request, batch=operation != "ExecuteStatement")
            if token:
                self.tokens[token] = statement.id
            if lose_reply:
                self.lost_replies -= 1
                raise ReadTimeoutError(endpoint_url="https://redshift-data.local")
        if self.on_execute is not None:
            self.on_execute(statement)
        return self._answer(statement, request)

    def _create(
        self,
        target: str,
        sqls: tuple[str, ...],
        request: ExecuteStatementRequest | BatchExecuteStatementRequest,
        *,
        batch: bool,
    ) -> FakeStatement:
        params = {p["name"]: p["value"] for p in request.get("Parameters", [])}
        statement = FakeStatement(
            # The service's ids are UUIDs; a batch's sub-statements add ":<n>" to them.
            f"stmt-{next(self._ids)}",
            target,
            # A batch of INSERTs (after a column guard, or before the probe's rollback) is
            # known by its first INSERT.
            next((sql for sql in sqls if sql.startswith("INSERT")), sqls[0]),
            params,
            request.get("StatementName", ""),
            sqls=sqls if batch else (),
        )
        self.statements.append(statement)
        if statement.sql.startswith("SELECT") and self.fail_all_error is not None:
            statement.status, statement.error = "FAILED", self.fail_all_error
            return statement
        if statement.sql == CATALOG_QUERY:
            statement.status = "FINISHED"
            statement.result = self._catalog_rows(target)
            return statement
        if statement.sql.startswith(GUARD_SQL_START) and not batch:
            # The column guard asked alone (writer.py, after it failed in a transaction)
            error = self.guard_alone_error or self._part_error(target, statement)
            statement.status, statement.error = ("FAILED", error) if error else ("FINISHED", None)
            statement.result = [] if error else [["1"]]
            return statement
        if statement.sql.startswith("SELECT") and any(k.startswith("v") for k in params):
            statement.status = "FINISHED"
            statement.result = self._same_records(target, statement.sql, params)
            return statement
        if statement.sql.startswith("SELECT"):
            statement.status = "FINISHED"
            statement.result = self._held_rows(target, statement.sql, params)
            return statement
        if self.hang_next > 0:
            self.hang_next -= 1
            statement.hang = True
            statement.status = "STARTED"
        elif self.fail_all_error is not None:
            statement.status, statement.error = "FAILED", self.fail_all_error
            statement.failed_part = 0 if batch else None
        elif failing := [
            (index, error)
            for index, part in enumerate(statement.parts())
            for error in [self._part_error(target, part)]
            if error is not None
        ]:
            statement.status, statement.error = "FAILED", failing[0][1]
            statement.failed_part = failing[0][0] if batch else None
        else:
            statement.status = "FINISHED"
        self.active[target] = self.active.get(target, 0) + 1
        self.peak_active[target] = max(self.peak_active.get(target, 0), self.active[target])
        if not statement.hang:
            self.active[target] -= 1
        return statement

    def _part_error(self, target: str, part: FakeStatement) -> str | None:
        """Why one SQL of a statement fails: a poisoned value, a column guard that no longer
        matches the table (column_guard.py), or the probe's rollback SELECT (probe.py)."""
        if self.fail_parameterised_error is not None and part.parameters:
            return self.fail_parameterised_error
        if self.poison & set(part.parameters.values()):
            return self.poison_error
        if part.sql == ROLLBACK_SQL:
            return "ERROR: division by zero"
        if part.sql.startswith("LOCK "):
            return self.lock_error
        if part.sql.startswith(CLAIM_CHECK_START) and self._claimed_rows_held(target, part):
            return "ERROR: division by zero"
        if part.sql.startswith(GUARD_SQL_START):
            table = self.tables.get(target, self.table)
            present = {f"{c.name} {c.type_text}" for c in table.columns}
            values = [v for k, v in sorted(part.parameters.items())]
            count, _schema, _table, *expected = values
            if sum(e in present for e in expected) != int(count):
                return "ERROR: division by zero"
        return None

    def _claimed_rows_held(self, target: str, check: FakeStatement) -> bool:
        """A claim's check (claim.py): does any FINISHED INSERT hold one of the ids it names
        (through the INSERTs' own parameters) in the message-id column?"""
        found = re.search(r'"?(\w+)"? IN \(([^)]*)\)', check.sql)
        assert found is not None, check.sql
        column = found.group(1)
        named = {check.parameters[name.strip()[1:]] for name in found.group(2).split(",")}
        return any(row.get(column) in named for row in self.written_rows(target))

    def _answer(
        self,
        statement: FakeStatement,
        request: ExecuteStatementRequest | BatchExecuteStatementRequest,
    ) -> ExecuteStatementReply:
        if self.answer_with_status and "WaitTimeSeconds" in request:
            return {"Id": statement.id, "Status": statement.status}
        return {"Id": statement.id}

    def describe_statement(self, *, Id: str) -> DescribeStatementReply:
        with self._lock:
            self.calls.append("DescribeStatement")
            if self.describe_errors:
                raise self.describe_errors.pop(0)
            statement = self._find(Id)
            error = statement.error
            if error and statement.sqls and self.batch_error is not None:
                error = self.batch_error
            subs = _sub_statements(statement) if statement.sqls else []
            if subs and self.describe_sub_statements:
                if error:
                    return {"Status": statement.status, "Error": error, "SubStatements": subs}
                return {"Status": statement.status, "SubStatements": subs}
            if error:
                return {"Status": statement.status, "Error": error}
            return {"Status": statement.status}

    def cancel_statement(self, *, Id: str) -> CancelStatementReply:
        with self._lock:
            self.calls.append("CancelStatement")
            if self.cancel_errors:
                raise self.cancel_errors.pop(0)
            statement = self._find(Id)
            if statement.status in ("FINISHED", "FAILED", "ABORTED"):
                raise client_error(
                    "ValidationException",
                    f"Could not cancel a query that is already in {statement.status} status",
                    "CancelStatement",
                )
            statement.status = "FINISHED" if self.cancel_loses_race else "ABORTED"
            statement.hang = False
            self.active[statement.target] -= 1
            return {"Status": True}

    def list_statements(self, **request: Unpack[ListStatementsRequest]) -> ListStatementsReply:
        with self._lock:
            self.calls.append("ListStatements")
            if self.list_errors:
                raise self.list_errors.pop(0)
            prefix, status = request.get("StatementName", ""), request.get("Status", "ALL")
            chosen: list[ListedStatement] = [
                {"Id": s.id, "StatementName": s.name, "Status": s.status}
                for s in self.statements
                if s.name.startswith(prefix) and status in ("ALL", s.status)
            ]
            return {"Statements": chosen}

    def get_statement_result(
        self, **request: Unpack[GetStatementResultRequest]
    ) -> StatementResultPage:
        with self._lock:
            self.calls.append("GetStatementResult")
            statement = self._find(request["Id"])
            return {
                "Records": [
                    [{"isNull": True} if v is None else {"stringValue": v} for v in row]
                    for row in statement.result
                ]
            }

    def _find(self, statement_id: str) -> FakeStatement:
        for statement in self.statements:
            if statement.id == statement_id:
                return statement
        raise client_error(
            "ResourceNotFoundException", "Query does not exist.", "DescribeStatement"
        )

    def _catalog_rows(self, target: str) -> list[list[str | None]]:
        table = self.tables.get(target, self.table)
        return [
            [c.name, c.type_text, str(c.not_null).lower(), str(c.has_default).lower()]
            for c in table.columns
        ]

    def catalog_reads(self, target: str | None = None) -> int:
        """How many times the catalog query ran (on one target, or on any)."""
        return sum(s.sql == CATALOG_QUERY and target in (None, s.target) for s in self.statements)

    def _held_rows(self, target: str, sql: str, params: dict[str, str]) -> list[list[str | None]]:
        """What the presence SELECT reads: the selected columns of every row a FINISHED INSERT
        wrote whose message id (the first column selected) is among the SELECT's `m*`
        parameters."""
        selected = [
            c.strip('" ') for c in sql[len("SELECT DISTINCT ") : sql.index(" FROM ")].split(",")
        ]
        wanted = {v for k, v in params.items() if k.startswith("m")}
        found: list[list[str | None]] = []
        for insert in (part for statement in self.inserts() for part in statement.parts()):
            if not insert.sql.startswith("INSERT"):
                continue
            if insert.target != target or insert.status != "FINISHED":
                continue
            for row in _inserted_rows(insert):
                if row.get(selected[0]) in wanted and [row.get(c) for c in selected] not in found:
                    found.append([row.get(c) for c in selected])
        return found

    def _same_records(
        self, target: str, sql: str, params: dict[str, str]
    ) -> list[list[str | None]]:
        """What same_record.py's SELECT reads: the ids whose written row matches one of its
        per-record predicates, a column compared with a parameter by the parameter's text (the
        fake stores each value as the INSERT's parameter text), `IS NULL` and constants with
        no value (the fake keeps constants as None)."""
        found: list[list[str | None]] = []
        marker = "WHERE ((" if "WHERE ((" in sql else " AND (("
        predicates = sql[sql.index(marker) + len(marker) : -2].split(") OR (")
        for predicate in predicates:
            wanted: dict[str, str | None] = {}
            for term in predicate.split(" AND "):
                name = re.search(r":(v\w{3})", term)
                wanted[term.split('"')[1]] = params[name.group(1)] if name else None
            for row in self.written_rows(target):
                if all(row.get(c) == v for c, v in wanted.items()):
                    record_id = row.get("sqs_message_id")
                    if [record_id] not in found:
                        found.append([record_id])
        return found

    def finished_values(self, target: str) -> list[str]:
        """Parameter values of every SQL of a FINISHED INSERT statement on a target (message ids
        among them), once per SQL that uses them."""
        return [
            value
            for s in self.inserts()
            if s.target == target and s.status == "FINISHED"
            for part in s.parts()
            if part.sql.startswith("INSERT")
            for value in part.parameters.values()
        ]

    def inserts(self) -> list[FakeStatement]:
        """The INSERT statements submitted, a batch counting once."""
        return [s for s in self.statements if s.sql.startswith("INSERT")]

    def written_rows(self, target: str) -> list[dict[str, str | None]]:
        """Every row the FINISHED INSERTs on a target wrote, as column -> parameter value
        (None for NULL, DEFAULT and the constants)."""
        return [
            row
            for s in self.inserts()
            if s.target == target and s.status == "FINISHED"
            for part in s.parts()
            if part.sql.startswith("INSERT")
            for row in _inserted_rows(part)
        ]


def _sub_statements(statement: FakeStatement) -> list[SubStatement]:
    subs: list[SubStatement] = []
    for index, part in enumerate(statement.parts()):
        status, failed = statement.status, statement.failed_part
        if status == "FAILED" and failed is not None and index != failed:
            # Those before the failed SQL ran (then rolled back); those after never started.
            status = "FINISHED" if index < failed else "ABORTED"
        if status == "FAILED" and statement.error:
            subs.append({"Id": part.id, "Status": status, "Error": statement.error})
        else:
            subs.append({"Id": part.id, "Status": status})
    return subs


_TOKEN = re.compile(
    r"NULL|DEFAULT|TRUE|FALSE|''|CAST\(:(\w+) AS (?:[^()]|\([^)]*\))*\)|JSON_PARSE\(:(\w+)\)|:(\w+)"
)


def _inserted_rows(statement: FakeStatement) -> list[dict[str, str | None]]:
    """The rows an INSERT ... VALUES statement carries, as column -> parameter value."""
    head, _, values = statement.sql.partition(" VALUES ")
    columns = [c.strip('" ') for c in head[head.index("(") + 1 : head.rindex(")")].split(",")]
    cells: list[str | None] = []
    for token in _TOKEN.finditer(values):
        name = token.group(1) or token.group(2) or token.group(3)
        cells.append(statement.parameters.get(name) if name else None)
    width = len(columns)
    return [
        dict(zip(columns, cells[i : i + width], strict=True)) for i in range(0, len(cells), width)
    ]
