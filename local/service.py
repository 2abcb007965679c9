"""The Data API's operations and service rules as plain calls: operation + JSON body -> dict."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from local.cluster import Cluster, ClusterStats
from local.databases import Databases
from local.errors import (
    AccessDeniedError,
    ApiError,
    EndpointNotFoundError,
    InternalServerError,
    RequestTooLargeError,
    ResourceNotFoundError,
    ThrottlingError,
    UnknownOperationError,
    ValidationError,
    refusal,
)
from local.executor import Executor
from local.faults import STATEMENT_FAULTS, Faults
from local.model import FAST, RA3_LARGE, ClusterModel, RateLimiter, ServiceConfig
from local.statements import Statement, Status, SubStatement
from local.targets import Target, Targets, make_target
from local.translate import BIND_MODES, BindMode, translate

log = logging.getLogger(__name__)

_ID_PATTERN = r"^[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}(:\d+)?$"
_ID = re.compile(_ID_PATTERN)
_PARAMETER_NAME = re.compile(r"^[0-9a-zA-Z_]+$")
_CLIENT_TOKEN_TTL = 8 * 3600  # seconds a ClientToken keeps returning the same statement
_MAX_WAIT_SECONDS = 30
_CANCEL_WAIT_SECONDS = 30.0  # how long CancelStatement waits to report the statement's end
_DEFAULT_DATABASE = "dev"  # what a secret names when the request gives no Database
# The Error of a statement on a database its cluster or workgroup does not have: PostgreSQL's
# connection error, which Redshift shares as far as users report it (unverified for the Data
# API, which reports it as the statement's Error).
_UNKNOWN_DATABASE = 'FATAL: database "{database}" does not exist'
_SUBMITS = ("ExecuteStatement", "BatchExecuteStatement")

Body = dict[str, Any]


@dataclass(frozen=True)
class Response:
    """What the HTTP front end sends: status and body, held `delay` seconds, or lost.

    `raw`: (bytes, content type) sent instead of the body's JSON (e.g. a front end's HTML page).
    """

    status: int
    body: Body
    delay: float = 0.0
    lose: bool = False
    raw: tuple[bytes, str] | None = None


def _string(body: Body, key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{key} must be a string")
    return value


class DataApiService:
    """Statements, clusters, faults and counters behind one Data API endpoint."""

    def __init__(
        self,
        databases: Databases,
        *,
        config: ServiceConfig | None = None,
        model: ClusterModel = RA3_LARGE,
    ) -> None:
        self.databases = databases
        self.config = config or ServiceConfig()
        self.faults = Faults()
        self.targets = Targets()
        self._bind_mode: BindMode = self.config.bind_mode
        self._max_request_bytes: int | None = self.config.max_request_bytes
        self._request_too_large_html = False
        self._default_model = model
        self._models: dict[str, ClusterModel] = {}
        self._limiter = RateLimiter(self.config.throttle)
        self._executor = Executor(databases)
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._clusters: dict[str, Cluster] = {}
        self._statements: dict[str, Statement] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._detailed: deque[Statement] = deque()
        self._calls: Counter[str] = Counter()
        self._operations: dict[str, Callable[[Body], Body]] = {
            "ExecuteStatement": self.execute_statement,
            "BatchExecuteStatement": self.batch_execute_statement,
            "DescribeStatement": self.describe_statement,
            "CancelStatement": self.cancel_statement,
            "GetStatementResult": self.get_statement_result,
            "ListStatements": self.list_statements,
        }

    # ---- dispatch -------------------------------------------------------------------------

    def dispatch(self, operation: str, body: Body, request_bytes: int | None = None) -> Response:
        """Run one operation and say how to reply, injected reply faults included.

        `request_bytes`: the size of the request's body as received (the HTTP front end's
        Content-Length), which the request-size limit judges."""
        raw: tuple[bytes, str] | None = None
        try:
            status, reply = 200, self.handle(operation, body, request_bytes)
        except ApiError as exc:
            status, reply, raw = exc.status, exc.body(), exc.payload()
        except Exception:
            log.exception("%s failed", operation)
            error = InternalServerError("Internal server error")
            status, reply = error.status, error.body()
        fault = self.faults.take_reply_fault(operation, self._request_target(operation, body))
        return Response(status, reply, fault.delay, fault.lose, raw)

    def handle(self, operation: str, body: Body, request_bytes: int | None = None) -> Body:
        """Run one operation; raises ApiError for the error responses."""
        with self._lock:
            self._calls[operation] += 1
        method = self._operations.get(operation)
        if method is None:
            raise UnknownOperationError(f"Operation {operation} is not supported locally")
        limit = self._max_request_bytes
        if (
            operation in _SUBMITS
            and limit is not None
            and request_bytes is not None
            and request_bytes > limit
        ):
            # Refused in front of the service, before any of its rules: nothing is created.
            raise RequestTooLargeError(html=self._request_too_large_html)
        if not self._limiter.allow(operation):
            raise ThrottlingError()
        target = self._request_target(operation, body)
        if target is not None and self.faults.is_denied(target):
            declared = self.targets.get(target)
            raise AccessDeniedError(operation, declared.arn if declared else "*")
        code = self.faults.take_refusal(operation, target)
        if code in STATEMENT_FAULTS:
            return self._failed_submit(operation, body, code)
        if code is not None:
            raise refusal(code)
        if operation in _SUBMITS:
            too_large = self.faults.take_size_refusal(target)
            if too_large is not None:
                raise too_large
        return method(body)

    def _request_target(self, operation: str, body: Body) -> str | None:
        """The cluster or workgroup a request concerns (None if it names none); never raises."""
        if operation in _SUBMITS or operation == "ListStatements":
            for key in ("ClusterIdentifier", "WorkgroupName"):
                value = body.get(key)
                if isinstance(value, str) and value:
                    return value
            return None
        statement_id = body.get("Id")
        if not isinstance(statement_id, str):
            return None
        with self._lock:
            statement = self._statements.get(statement_id.partition(":")[0])
        return statement.target if statement is not None else None

    # ---- control (tests, demo, benchmark) -------------------------------------------------

    def declare_target(
        self, name: str, kind: str = "cluster", databases: Iterable[str] = ("dev",)
    ) -> Target:
        """Make a cluster or workgroup exist, with these databases; statements naming anything
        else are refused as the service refuses them."""
        target = make_target(name, kind, databases)
        self.targets.declare(target)
        return target

    def check_declared(self, target: str, database: str) -> None:
        """For the test helpers: a clear error where a test reaches for an undeclared target."""
        declared = self.targets.get(target)
        if declared is None:
            raise ValueError(f"{target!r} is not declared: call declare_target({target!r}, ...)")
        if database not in declared.databases:
            raise ValueError(f"{target!r} has no database {database!r}: declare it")

    def set_bind_mode(self, mode: BindMode) -> None:
        """How statements submitted from now on bind a parameter used twice."""
        if mode not in BIND_MODES:
            raise ValueError(f"bind mode must be one of {BIND_MODES}")
        self._bind_mode = mode

    @property
    def bind_mode(self) -> BindMode:
        return self._bind_mode

    def set_max_request_bytes(self, limit: int | None, *, html: bool = False) -> None:
        """Refuse ExecuteStatement and BatchExecuteStatement requests whose JSON body exceeds
        `limit` bytes with HTTP 413 (no `__type`: botocore's Error.Code is "413"), its body
        {"message": "Request Entity Too Large"} or, with `html`, a proxy's HTML page; None: no
        limit (the default; ServiceConfig.max_request_bytes sets the one reset restores)."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1 byte, or None")
        self._max_request_bytes = limit
        self._request_too_large_html = html

    @property
    def max_request_bytes(self) -> int | None:
        return self._max_request_bytes

    def cluster(self, target: str) -> Cluster:
        with self._lock:
            cluster = self._clusters.get(target)
            if cluster is None:
                cluster = Cluster(
                    target,
                    self._models.get(target, self._default_model),
                    self._executor,
                    self.config.max_running_per_cluster,
                )
                self._clusters[target] = cluster
            return cluster

    def set_model(self, target: str, model: ClusterModel) -> None:
        with self._lock:
            self._models[target] = model
            cluster = self._clusters.get(target)
        if cluster is not None:
            cluster.set_model(model)

    def set_default_model(self, model: ClusterModel) -> None:
        """The model of every cluster without one of its own, existing or future."""
        with self._lock:
            self._default_model = model
            clusters = [c for name, c in self._clusters.items() if name not in self._models]
        for cluster in clusters:
            cluster.set_model(model)

    def set_throttle(self, limits: dict[str, float]) -> None:
        """Calls per second per operation (e.g. {"ExecuteStatement": 30}); {} for none."""
        self._limiter.configure(limits)

    def stats(self, target: str) -> ClusterStats:
        return self.cluster(target).stats()

    def api_calls(self) -> dict[str, int]:
        """Requests received per operation, the refused and throttled ones included."""
        with self._lock:
            return dict(self._calls)

    def reset(self, model: ClusterModel = FAST, *, drop_databases: bool = True) -> None:
        """Abort what runs, forget statements, faults, counters, models and targets; drop
        databases; bind as configured."""
        self.faults.clear()
        self.targets.clear()
        self._bind_mode = self.config.bind_mode
        self._max_request_bytes = self.config.max_request_bytes
        self._request_too_large_html = False
        self._limiter.configure(self.config.throttle)
        self.abort_all()
        with self._lock:
            self._default_model = model
            self._models.clear()
            self._clusters.clear()
            self._statements.clear()
            self._tokens.clear()
            self._detailed.clear()
            self._calls.clear()
        self._executor.reset_query_ids()
        if drop_databases:
            self.databases.drop_all()

    def abort_all(self, timeout: float = 30.0) -> None:
        with self._lock:
            active = [s for s in self._statements.values() if s.status.active]
            clusters = list(self._clusters.values())
        for statement in active:
            self._abort(statement)
        deadline = time.monotonic() + timeout
        for statement in active:
            statement.wait_ended(max(0.0, deadline - time.monotonic()))
        while any(not c.idle() for c in clusters) and time.monotonic() < deadline:
            time.sleep(0.01)

    # ---- request parsing ------------------------------------------------------------------

    def _target(self, body: Body) -> Target:
        cluster = _string(body, "ClusterIdentifier")
        workgroup = _string(body, "WorkgroupName")
        if cluster and workgroup:
            raise ValidationError("ClusterIdentifier and WorkgroupName cannot both be specified")
        if cluster:
            if not (_string(body, "DbUser") or _string(body, "SecretArn")):
                raise ValidationError(
                    "Either DbUser or SecretArn must be specified with ClusterIdentifier"
                )
            name, kind = cluster, "cluster"
        elif workgroup:
            name, kind = workgroup, "workgroup"
        else:
            raise ValidationError("Either ClusterIdentifier or WorkgroupName must be specified")
        # Refused at submit, as the service does, for a name it does not know (a workgroup
        # named as a cluster included).
        target = self.targets.get(name)
        if target is None or target.kind != kind:
            raise EndpointNotFoundError()
        return target

    def _database(self, body: Body) -> str:
        database = _string(body, "Database")
        if database:
            return database
        if _string(body, "SecretArn"):
            return _DEFAULT_DATABASE
        raise ValidationError("Database is required unless SecretArn is specified")

    @staticmethod
    def _parameters(body: Body) -> tuple[list[dict[str, str]] | None, dict[str, str]]:
        given = body.get("Parameters")
        if given is None:
            return None, {}
        if not isinstance(given, list) or not given:
            raise ValidationError("Parameters must be a non-empty list")
        values: dict[str, str] = {}
        for item in given:
            name = item.get("name") if isinstance(item, dict) else None
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(name, str) or not _PARAMETER_NAME.match(name):
                raise ValidationError(f"Invalid parameter name: {name!r}")
            if not isinstance(value, str):
                raise ValidationError(f"Parameter {name} must have a string value")
            if value == "":
                raise ValidationError(f"Parameter {name} has an empty value")
            if name in values:
                raise ValidationError(f"Parameter {name} is specified more than once")
            values[name] = value
        return given, values

    @staticmethod
    def _execution_mode(body: Body) -> None:
        """Only TRANSACTION (the default) is emulated: every SQL of a batch, or none."""
        mode = body.get("ExecutionMode")
        if mode is None or mode == "TRANSACTION":
            return
        if mode == "AUTO_COMMIT":
            raise ValidationError(
                "ExecutionMode AUTO_COMMIT is not supported by the local Data API"
            )
        raise ValidationError("ExecutionMode must be TRANSACTION or AUTO_COMMIT")

    @staticmethod
    def _wait_seconds(body: Body) -> int | None:
        wait = body.get("WaitTimeSeconds")
        if wait is None:
            return None
        if not isinstance(wait, int) or not 1 <= wait <= _MAX_WAIT_SECONDS:
            raise ValidationError(
                f"WaitTimeSeconds must be between 1 and {_MAX_WAIT_SECONDS} seconds"
            )
        return wait

    def _check_size(self, sql: str, values: dict[str, str] | None = None) -> None:
        """The 100 KB limit on one SQL string; with size_limit_counts_parameters, the values
        of `values` (the parameters that SQL uses, not a batch's whole list) count too."""
        size = len(sql.encode())
        if values and self.config.size_limit_counts_parameters:
            size += sum(len(v.encode()) for v in values.values())
        if size > self.config.max_query_bytes:
            raise ValidationError("Cannot process query string larger than 100kB")

    def _statement_id(self, body: Body) -> tuple[Statement, SubStatement | None]:
        statement_id = _string(body, "Id", required=True) or ""
        if not _ID.match(statement_id):
            raise ValidationError(f"id must satisfy regex pattern: {_ID_PATTERN}")
        parent_id, _, suffix = statement_id.partition(":")
        with self._lock:
            statement = self._statements.get(parent_id)
        if statement is None:
            raise ResourceNotFoundError(statement_id)
        if not suffix:
            return statement, None
        position = int(suffix)
        if not statement.is_batch or not 1 <= position <= len(statement.subs):
            raise ResourceNotFoundError(statement_id)
        return statement, statement.subs[position - 1]

    # ---- submitting -----------------------------------------------------------------------

    def execute_statement(self, body: Body) -> Body:
        sql = _string(body, "Sql", required=True) or ""
        return self._submit(body, [sql], is_batch=False)

    def batch_execute_statement(self, body: Body) -> Body:
        return self._submit(body, self._batch_sqls(body), is_batch=True)

    def _batch_sqls(self, body: Body) -> list[str]:
        sqls = body.get("Sqls")
        limit = self.config.max_batch_statements
        if not isinstance(sqls, list) or not 1 <= len(sqls) <= limit:
            raise ValidationError(f"Sqls must contain between 1 and {limit} SQL statements")
        if not all(isinstance(sql, str) for sql in sqls):
            raise ValidationError("Sqls must contain strings")
        return sqls

    def _submit(self, body: Body, sqls: list[str], *, is_batch: bool) -> Body:
        statement = self._build(body, sqls, is_batch=is_batch)
        statement = self._admit(statement, _string(body, "ClientToken"))
        return self._submitted(statement, self._wait_seconds(body))

    def _build(self, body: Body, sqls: list[str], *, is_batch: bool) -> Statement:
        """A new statement from a submit's request, every request rule checked."""
        target = self._target(body)
        database = self._database(body)
        parameters, values = self._parameters(body)
        self._wait_seconds(body)
        if is_batch:
            self._execution_mode(body)
        for sql in sqls:
            self._check_size(sql)  # before translating it
        if len(values) > self.config.max_parameters:
            raise ValidationError(
                f"Parameters list exceeds the maximum of {self.config.max_parameters} parameters"
            )
        translations = [translate(sql) for sql in sqls]
        for sql, translation in zip(sqls, translations, strict=True):
            used = translation.used  # a property that builds its set: once per SQL
            self._check_size(sql, {n: v for n, v in values.items() if n in used})
        # A batch's parameters are shared: "Each provided parameter must be referenced by at
        # least one SQL statement in the batch" (BatchExecuteStatement's Parameters).
        used = frozenset().union(*(t.used for t in translations))
        unused = [name for name in values if name not in used]
        if unused:
            raise ValidationError(
                f"Parameters list contains unused parameters. Unused parameters: "
                f"[{', '.join(unused)}]"
            )
        now = time.time()
        statement_id = str(uuid.uuid4())
        subs = [
            SubStatement(
                id=f"{statement_id}:{position}" if is_batch else statement_id,
                sql=sql,
                translation=translation,
                created_at=now,
                updated_at=now,
            )
            for position, (sql, translation) in enumerate(zip(sqls, translations, strict=True), 1)
        ]
        return Statement(
            id=statement_id,
            target=target.name,
            target_field=target.field,
            database=database,
            subs=subs,
            is_batch=is_batch,
            created_at=now,
            db_user=_string(body, "DbUser"),
            secret_arn=_string(body, "SecretArn"),
            statement_name=_string(body, "StatementName"),
            parameters=parameters,
            values=values,
            bind_mode=self._bind_mode,
        )

    def _failed_submit(self, operation: str, body: Body, code: str) -> Body:
        """An injected ExecuteStatementException or BatchExecuteStatementException: the
        statement exists, FAILED before running, and the error names it."""
        if operation == "BatchExecuteStatement":
            sqls = self._batch_sqls(body)
        else:
            sqls = [_string(body, "Sql", required=True) or ""]
        statement = self._build(body, sqls, is_batch=operation == "BatchExecuteStatement")
        error = refusal(code, StatementId=statement.id)
        with statement.cond:
            for sub in statement.subs:
                sub.set_status(Status.FAILED, error.message)
            statement.set_status(Status.FAILED, error.message)
        with self._lock:
            self._statements[statement.id] = statement
        raise error

    def _admit(self, statement: Statement, token: str | None) -> Statement:
        """Queue the statement on its cluster, or return the one its ClientToken already made."""
        cluster = self.cluster(statement.target)
        # One submit at a time, so that a retry racing its original finds the original's token.
        with self._submit_lock:
            if token:
                with self._lock:
                    entry = self._tokens.get(token)
                    if entry is not None and time.time() - entry[1] <= _CLIENT_TOKEN_TTL:
                        existing = self._statements.get(entry[0])
                        if existing is not None:
                            return existing
            rejection = self.faults.take_rejection(statement.target, cluster.model.active_quota)
            if rejection is not None:
                raise rejection
            target = self.targets.get(statement.target)
            known = target is not None and statement.database in target.databases
            if known:
                # Created before the clock starts: a first statement's latency is the model's,
                # not CREATE DATABASE's.
                self.databases.ensure(statement.target, statement.database)

            def attach_faults() -> None:
                if not known:
                    # Accepted, then FAILED: the service connects only once the statement runs.
                    statement.fail_with = _UNKNOWN_DATABASE.format(database=statement.database)
                    return
                fault = self.faults.take_statement_fault(
                    statement.target, parameterised=statement.parameters is not None
                )
                statement.fail_with = fault.fail_with
                statement.hang = fault.hang
                statement.fail_after_commit = fault.fail_after_commit
                statement.refused_values = self.faults.value_refusals(statement.target)

            cluster.admit(statement, attach_faults)
            with self._lock:
                self._statements[statement.id] = statement
                if token:
                    self._tokens[token] = (statement.id, time.time())
                self._detailed.append(statement)
                if len(self._detailed) > self.config.detail_retention:
                    self._detailed.popleft().parameters = None
        return statement

    def _submitted(self, statement: Statement, wait: int | None) -> Body:
        out: Body = {"Id": statement.id, "CreatedAt": statement.created_at}
        out.update(statement.identity())
        if wait is not None:
            out["Status"] = statement.wait_ended(wait).value
        return out

    # ---- reading --------------------------------------------------------------------------

    def describe_statement(self, body: Body) -> Body:
        statement, sub = self._statement_id(body)
        wait = self._wait_seconds(body)
        if wait is not None:
            statement.wait_ended(wait)
        with statement.cond:
            if sub is None:
                return statement.describe()
            out = sub.describe()
            out.update(statement.identity())
            return out

    def get_statement_result(self, body: Body) -> Body:
        statement, sub = self._statement_id(body)
        wait = self._wait_seconds(body)
        if wait is not None:
            statement.wait_ended(wait)
        if sub is None:
            if statement.is_batch:
                raise ValidationError(
                    "Use the sub-statement Id (Id:N) to get the result of a batch statement"
                )
            sub = statement.subs[0]
        with statement.cond:
            result = sub.result if sub.status is Status.FINISHED else None
        if result is None:
            raise ValidationError(
                "Query does not have result. Please check query status with DescribeStatement."
            )
        offset = int(_string(body, "NextToken") or 0)
        page = self.config.result_page_rows
        out: Body = {
            "Records": result.records[offset : offset + page],
            "ColumnMetadata": result.columns,
            "TotalNumRows": len(result.records),
        }
        if offset + page < len(result.records):
            out["NextToken"] = str(offset + page)
        return out

    def list_statements(self, body: Body) -> Body:
        status = _string(body, "Status") or "ALL"
        name = _string(body, "StatementName")
        targets = {_string(body, "ClusterIdentifier"), _string(body, "WorkgroupName")} - {None}
        database = _string(body, "Database")
        limit = body.get("MaxResults", 100)
        if not isinstance(limit, int) or not 0 <= limit <= 100:
            raise ValidationError("MaxResults must be between 0 and 100")
        limit = limit or 100
        with self._lock:
            statements = sorted(self._statements.values(), key=lambda s: -s.created_at)
        chosen = [
            s
            for s in statements
            if (status == "ALL" or s.status.value == status)
            and (name is None or (s.statement_name or "").startswith(name))
            and (not targets or s.target in targets)
            and (database is None or s.database == database)
        ]
        offset = int(_string(body, "NextToken") or 0)
        out: Body = {"Statements": [s.list_entry() for s in chosen[offset : offset + limit]]}
        if offset + limit < len(chosen):
            out["NextToken"] = str(offset + limit)
        return out

    # ---- cancelling -----------------------------------------------------------------------

    def cancel_statement(self, body: Body) -> Body:
        statement, _sub = self._statement_id(body)
        cluster = self.cluster(statement.target)
        with statement.cond:
            if not statement.status.active:
                raise _cannot_cancel(statement.status)
            committing = statement.committing
        if committing:
            # Past the point of no return: report how it ends, as Redshift would.
            raise _cannot_cancel(statement.wait_ended(_CANCEL_WAIT_SECONDS))
        slow = self.faults.take_slow_cancel(statement.target)
        if slow is not None:
            self._end_later(statement, *slow)
            return {"Status": True}
        if self.faults.take_lost_race(statement.target):
            with statement.cond:
                statement.finish_anyway = True
                statement.wake.set()
            statement.wait_ended(_CANCEL_WAIT_SECONDS)
            return {"Status": True}
        self._abort(statement, cluster)
        statement.wait_ended(_CANCEL_WAIT_SECONDS)
        return {"Status": True}

    def _end_later(self, statement: Statement, seconds: float, outcome: str) -> None:
        """A slow cancel: the statement stays active `seconds`, then ends as `outcome`."""

        def end() -> None:
            if outcome == "ABORTED":
                self._abort(statement)
                return
            with statement.cond:
                statement.finish_anyway = True  # a hanging statement runs on to FINISHED
                statement.wake.set()

        timer = threading.Timer(seconds, end)
        timer.daemon = True
        timer.start()

    def _abort(self, statement: Statement, cluster: Cluster | None = None) -> None:
        cluster = cluster or self.cluster(statement.target)
        with statement.cond:
            if not statement.status.active or statement.committing:
                return
            statement.abort_requested = True
            statement.finish_anyway = False
            statement.wake.set()
            conn = statement.conn
            if conn is not None:
                conn.cancel_safe(timeout=5.0)
        if cluster.unqueue(statement):
            with statement.cond:
                for sub in statement.subs:
                    sub.set_status(Status.ABORTED)
            cluster.end(statement, Status.ABORTED)
        cluster.wake_gate()


def _cannot_cancel(status: Status) -> ValidationError:
    return ValidationError(f"Could not cancel a query that is already in {status.value} status")
