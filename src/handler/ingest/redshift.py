"""The only module that talks to the Redshift Data API: submit, wait, cancel, find, read."""

from __future__ import annotations

import functools
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import botocore
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    MetadataRetrievalError,
)
from botocore.exceptions import ConnectionError as SdkConnectionError

from ingest.bounded_call import call_within
from ingest.config import Target
from ingest.deadline import Deadline, Deadlines
from ingest.limits import LIST_PAGE_MAX, SQLS_PER_BATCH
from ingest.ports import DataApiClient
from ingest.retry_policy import CANCEL_RETRY, READ_ATTEMPTS, READ_RETRY, STATEMENT_POLL

_TERMINAL = frozenset({"FINISHED", "FAILED", "ABORTED"})
_ACTIVE = ("SUBMITTED", "PICKED", "STARTED")
# A statement still active this long after its owner's deadline has no owner left to end it.
_ORPHAN_SLACK_SECONDS = 30
# Request members the function sends that older botocore releases lack, whose model would then
# refuse every such request before sending it: WaitTimeSeconds (botocore 1.44), and
# BatchExecuteStatement's Parameters (absent from botocore's model before mid-2026) and
# ExecutionMode. src/handler/requirements.txt ships a botocore that has them all.
_REQUIRED_MEMBERS = {
    "ExecuteStatement": ("WaitTimeSeconds",),
    "BatchExecuteStatement": ("Parameters", "WaitTimeSeconds", "ExecutionMode"),
}


class DataApiError(Exception):
    """Base of the few domain errors the Data API's failures are mapped to."""


class TransientError(DataApiError):
    """Worth retrying: internal errors, connection failures, lost locks."""


class QuotaExceeded(TransientError):
    """ActiveStatementsExceededException: too many statements in flight on the cluster."""


class Throttled(TransientError):
    """The account's Data API request rate was exceeded."""


class AmbiguousSubmit(TransientError):
    """The submit may have reached the service: its statement may exist and may commit."""

    def __init__(self, message: str, statement_id: str | None = None) -> None:
        super().__init__(message)
        self.statement_id = statement_id  # ExecuteStatementException names the statement


class StatementRejected(DataApiError):
    """The service refused the statement as sent because of its size: splitting the rows helps."""


class TargetMisconfigured(DataApiError):
    """Access denied, unknown cluster or database, missing table: no row is to blame."""


class RequestInvalid(TargetMisconfigured):
    """The SDK refused the request before sending it: nothing reached the service."""


class OutOfTime(DataApiError):
    """A call could not start and still return before the deadline."""


class StatementUnconfirmed(DataApiError):
    """A statement may exist and its end could not be confirmed in time; the name finds it."""

    def __init__(self, name: str, statement_id: str | None) -> None:
        super().__init__(f"statement {statement_id or name} may still run: not confirmed ended")
        self.name = name
        self.statement_id = statement_id


class StatementStatus(StrEnum):
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


_TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ActiveSessionsExceededException",
        "DatabaseConnectionException",
    }
)
# Server faults after which the statement may exist: a retry with the same ClientToken is safe.
# (Execute|BatchExecute)StatementException: "encountered an environmental error while running",
# with the StatementId of the statement it concerns (their service model).
_AMBIGUOUS_CODES = frozenset(
    {
        "InternalServerException",
        "InternalServerError",
        "ExecuteStatementException",
        "BatchExecuteStatementException",
    }
)
_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
# ValidationExceptions that are the target's settings, not the request's size: an unknown
# cluster or workgroup ("Redshift endpoint doesn't exist in this region.": aws/aws-cdk#30536 and
# connector tests, see local/errors.py), "Either ClusterIdentifier or WorkgroupName needs to be
# specified." (boto/boto3#3336). The other words (an unknown database, user or secret) are
# unverified; the fallback for a target refusal they miss is a split, after which the probe is
# refused too and the target's records come back (writer.py).
_TARGET_REFUSALS = re.compile(
    r"endpoint doesn.t exist|does not exist|not found|no such|credentials|secret|"
    r"db ?user|database|workgroup|cluster|not authori[sz]ed|access denied",
    re.IGNORECASE,
)
# HTTP statuses a front end answers an oversized body with; botocore's JSON parser makes the
# status the Error Code when the body has no __type (botocore/parsers.py, _do_error_parse).
# RequestEntityTooLarge(Exception) is Lambda's modelled code, unverified for the Data API (no
# public report of either): any other wording reaches the ValidationException rule below.
_SIZE_STATUSES = frozenset({"413", "RequestEntityTooLarge", "RequestEntityTooLargeException"})
# What botocore raises once a request may have left: the reply, not the request, was lost.
_MAYBE_SENT = (HTTPClientError, IncompleteReadError)
# Raised before anything is sent, and worth trying again (credentials from the environment's
# provider, a connection that was never made).
_NOT_SENT_TRANSIENT = (SdkConnectionError, CredentialRetrievalError, MetadataRetrievalError)
_PARAMETER_PATH = re.compile(r"parameter ([A-Za-z][A-Za-z0-9_.\[\]]*)")


def map_client_error(exc: ClientError | BotoCoreError) -> DataApiError:
    """Translate an SDK exception into one of our domain errors."""
    if isinstance(exc, BotoCoreError):
        return _map_sdk_error(exc)
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = error.get("Message", "") or str(exc)
    if code in _AMBIGUOUS_CODES:
        statement_id = exc.response.get("StatementId") or error.get("StatementId")
        return AmbiguousSubmit(f"{code}: {message}", str(statement_id) if statement_id else None)
    if code in _SIZE_STATUSES:
        return StatementRejected(f"{code}: {message or 'request entity too large'}")
    if code == "ValidationException" and not _TARGET_REFUSALS.search(message):
        # The documented size refusal ("Cannot process query string larger than 100kB") and
        # any other wording nobody has published: smaller requests are tried, within the
        # bisection budget, and a lone row is convicted only on the control statement's
        # evidence (writer.py), so a refusal that is not about size costs only a few requests.
        return StatementRejected(message)
    if code == "ActiveStatementsExceededException":
        return QuotaExceeded(message)
    kind: type[DataApiError] = (
        Throttled
        if code in _THROTTLE_CODES
        else TransientError
        if code in _TRANSIENT_CODES
        # Other refusals (unknown cluster, bad credentials, access) are no row's fault.
        else TargetMisconfigured
    )
    return kind(message if kind is Throttled else f"{code}: {message}")


def _map_sdk_error(exc: BotoCoreError) -> DataApiError:
    """botocore's own exceptions: whether the request may have left decides the error."""
    if isinstance(exc, _NOT_SENT_TRANSIENT):
        return TransientError(f"{type(exc).__name__}: the request was not sent")
    if isinstance(exc, _MAYBE_SENT):
        # Read timeouts and closed connections: the request may have been received.
        return AmbiguousSubmit(f"{type(exc).__name__}: no reply")
    # The SDK refused the request before sending it (ParamValidationError, no region or
    # credentials, ...): nothing exists on the service, and the same request would be refused
    # again. Its text can quote a value ("value: ..."): only parameter names are kept.
    paths = sorted(set(_PARAMETER_PATH.findall(str(exc))))
    where = f" ({', '.join(paths)})" if paths else ""
    return RequestInvalid(f"{type(exc).__name__}: the SDK refused the request{where}")


@dataclass(frozen=True)
class StatementOutcome:
    statement_id: str
    status: StatementStatus
    error: str | None  # of a batch: its failed SQL's own error when the service gives it
    duration_ms: float
    cancelled: bool = False
    # Of a FAILED batch: the 0-based index of the SQL whose sub-statement FAILED. None for a
    # single statement, or when the service did not say which SQL failed.
    failed_part: int | None = None


@dataclass(frozen=True)
class Submitted:
    statement_id: str
    status: str | None  # present only when the service honoured WaitTimeSeconds


@dataclass(frozen=True)
class CallTimes:
    """The longest one SDK call can take on each client: connect + read timeout + slack.

    A call is only started when it can return before the deadline that bounds it, so a hung
    endpoint costs at most this, never Lambda's timeout.
    """

    submit: float  # the client ExecuteStatement waits on (its read timeout covers the wait)
    control: float  # describe, cancel, list, result pages, and submits without a wait


class DataApi:
    """Runs statements to a confirmed outcome, never past the invocation's deadlines."""

    def __init__(
        self,
        client: DataApiClient,
        *,
        control_client: DataApiClient | None = None,
        call_times: CallTimes = CallTimes(submit=30.0, control=5.0),
        statement_name_prefix: str = "sqs-redshift-ingest",
        wait_seconds: int = 20,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        # Describe, cancel and list get a client with short timeouts: near the deadline a slow
        # call must not hold the invocation past Lambda's timeout.
        self._control = control_client or client
        self._times = call_times
        self._prefix = statement_name_prefix
        self._wait_seconds = wait_seconds
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    # ---- statements -----------------------------------------------------------------------

    def statement_name(self, target: Target, deadlines: Deadlines) -> str:
        """`<prefix>/<target>/<hard deadline, epoch s>/<random>`: unique, findable by prefix,
        and it says when its owner will have given up on it."""
        ends = int(self._wall_clock() + deadlines.hard.remaining()) + 1
        return f"{self._prefix}/{target.name}/{ends}/{uuid.uuid4().hex[:12]}"

    def new_client_token(self) -> str:
        """One token per logical submit: retries of it stay idempotent for 8 hours."""
        return str(uuid.uuid4())

    def submit(
        self,
        target: Target,
        sql: str | Sequence[str],
        parameters: Sequence[tuple[str, str]],
        *,
        name: str,
        client_token: str,
        deadlines: Deadlines,
    ) -> Submitted:
        """Submit once: one SQL with ExecuteStatement; several with BatchExecuteStatement, as one
        transaction sharing `parameters` (each must be used by some SQL). Raises a DataApiError
        subclass (ValueError for no SQL or more than SQLS_PER_BATCH)."""
        sqls = as_sqls(sql)
        operation = "ExecuteStatement" if len(sqls) == 1 else "BatchExecuteStatement"
        request: dict[str, Any] = {
            **target.connection_arguments(),
            "ClientToken": client_token,
            "StatementName": name,
        }
        if operation == "ExecuteStatement":
            request["Sql"] = sqls[0]
        else:
            request["Sqls"] = list(sqls)
            # The default, said out loud: exactly-once needs a failed part to commit nothing
            # (AUTO_COMMIT would keep the parts before it).
            request["ExecutionMode"] = "TRANSACTION"
        if parameters:
            request["Parameters"] = [{"name": n, "value": v} for n, v in parameters]
        client, call_seconds = self._control, self._times.control
        wait = min(self._wait_seconds, int(deadlines.work.remaining() - self._times.control))
        if wait >= 1 and deadlines.work.allows(self._times.submit):
            # A batch's wait covers all its SQLs and the commit (BatchExecuteStatement's model).
            request["WaitTimeSeconds"] = wait
            client, call_seconds = self._client, self._times.submit
        if not deadlines.work.allows(call_seconds):
            raise OutOfTime("no time left to submit")
        call = client.execute_statement if len(sqls) == 1 else client.batch_execute_statement
        try:
            response = call_within(call_seconds, lambda: call(**request))
        except (ClientError, BotoCoreError) as exc:
            raise map_client_error(exc) from exc
        return Submitted(str(response["Id"]), response.get("Status"))

    def find(self, target: Target, name: str, deadlines: Deadlines) -> str | None:
        """The id of the statement submitted under `name`, or None if there is none."""
        for entry in self._list(name, "ALL", deadlines.cleanup):
            if entry.get("StatementName") == name:
                return str(entry["Id"])
        return None

    def await_outcome(
        self,
        statement_id: str,
        deadlines: Deadlines,
        *,
        started: float | None = None,
        status: str | None = None,
    ) -> StatementOutcome:
        """Wait for the statement's end; past the work deadline, cancel it and confirm how it
        ended. Raises StatementUnconfirmed when even that cannot be known in time."""
        started = self._clock() if started is None else started
        polls = 0
        described: dict[str, Any] | None = None
        # FAILED straight from the submit response still needs a describe for its error text.
        while status not in _TERMINAL or (status == "FAILED" and described is None):
            if status not in _TERMINAL and status is not None:
                if deadlines.work.expired():
                    return self.cancel(statement_id, deadlines, started=started)
                self._sleep(min(STATEMENT_POLL.ceiling(polls), deadlines.work.remaining()))
                polls += 1
            if not deadlines.work.allows(self._times.control):
                return self.cancel(statement_id, deadlines, started=started)
            try:
                described = self._describe(statement_id)
            except (ClientError, BotoCoreError):
                # The statement was accepted and may already have committed: no describe error
                # may turn its rows into "refused" (that would write them twice). Keep polling;
                # past the work deadline it is cancelled and confirmed.
                status, described = "POLLING", None
                continue
            status = str(described["Status"])
        error, failed_part = _failure(described or {})
        return self._outcome(statement_id, status, error, started, failed_part=failed_part)

    def cancel(
        self, statement_id: str, deadlines: Deadlines, *, started: float | None = None
    ) -> StatementOutcome:
        """Cancel until the statement is confirmed ended (ABORTED, or FINISHED if it won the
        race), retrying refused cancels, until the cleanup deadline."""
        started = self._clock() if started is None else started
        attempt = 0
        cancel_accepted = False
        while deadlines.cleanup.allows(self._times.control):
            if not cancel_accepted:
                try:
                    answer = call_within(
                        self._times.control,
                        lambda: self._control.cancel_statement(Id=statement_id),
                    )
                    # {"Status": false}: the service did not cancel it; ask again.
                    cancel_accepted = answer.get("Status") is not False
                except (ClientError, BotoCoreError):
                    # Throttled, or it already ended ("Could not cancel a query that is already
                    # in FINISHED status"): the describe below tells which.
                    pass
            if deadlines.cleanup.allows(self._times.control):
                try:
                    described = self._describe(statement_id)
                except (ClientError, BotoCoreError):
                    described = {"Status": "POLLING"}
                status = str(described["Status"])
                if status in _TERMINAL:
                    error, failed_part = _failure(described)
                    return self._outcome(
                        statement_id,
                        status,
                        error,
                        started,
                        cancelled=True,
                        failed_part=failed_part,
                    )
            pause = CANCEL_RETRY.jittered(attempt, self._rng)
            if not deadlines.cleanup.allows(pause + self._times.control):
                break
            self._sleep(pause)
            attempt += 1
        raise StatementUnconfirmed(statement_id, statement_id)

    # ---- orphans and reads ----------------------------------------------------------------

    def cancel_orphans(self, target: Target, deadlines: Deadlines) -> list[str]:
        """Cancel this function's statements on `target` that outlived their owner's deadline
        (an invocation killed mid-statement); return the ids whose end could not be confirmed.
        Raises DataApiError when the statements cannot be listed."""
        now = self._wall_clock()
        prefix = f"{self._prefix}/{target.name}/"
        orphans: list[str] = []
        for status in _ACTIVE:
            for entry in self._list(prefix, status, deadlines.work):
                owner_gave_up_at = _deadline_in_name(str(entry.get("StatementName", "")))
                if owner_gave_up_at is not None and owner_gave_up_at + _ORPHAN_SLACK_SECONDS < now:
                    orphans.append(str(entry["Id"]))
        unconfirmed: list[str] = []
        for statement_id in orphans:
            try:
                self.cancel(statement_id, deadlines)
            except StatementUnconfirmed:
                unconfirmed.append(statement_id)
        return unconfirmed

    def result_rows(self, statement_id: str, deadlines: Deadlines) -> list[list[str | None]]:
        """Every row of a FINISHED SELECT, each value as text (or None for NULL)."""
        rows: list[list[str | None]] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {"Id": statement_id}
            if token:
                request["NextToken"] = token
            page = self._control_call(
                functools.partial(self._control.get_statement_result, **request), deadlines.work
            )
            rows.extend([_field_text(field) for field in record] for record in page["Records"])
            token = page.get("NextToken")
            if not token:
                return rows

    def _list(self, name_prefix: str, status: str, deadline: Deadline) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "StatementName": name_prefix,
                "Status": status,
                "MaxResults": LIST_PAGE_MAX,
                "RoleLevel": True,  # every invocation of the function shares its role
            }
            if token:
                request["NextToken"] = token
            page = self._control_call(
                functools.partial(self._control.list_statements, **request), deadline
            )
            entries.extend(dict(entry) for entry in page.get("Statements", []))
            token = page.get("NextToken")
            if not token:
                return entries

    def _describe(self, statement_id: str) -> dict[str, Any]:
        return dict(
            call_within(
                self._times.control, lambda: self._control.describe_statement(Id=statement_id)
            )
        )

    def _control_call(self, call: Callable[[], Any], deadline: Deadline) -> Any:
        """A read that is safe to repeat: throttles and server errors are retried with jitter
        while the deadline allows; anything else, or the deadline, raises a DataApiError."""
        for attempt in range(READ_ATTEMPTS):
            if not deadline.allows(self._times.control):
                raise OutOfTime("no time left for the call")
            try:
                return call_within(self._times.control, call)
            except (ClientError, BotoCoreError) as exc:
                error = map_client_error(exc)
                if not isinstance(error, TransientError):
                    raise error from exc
            pause = READ_RETRY.jittered(attempt, self._rng)
            if not deadline.allows(pause + self._times.control):
                break
            self._sleep(pause)
        raise TransientError("the call kept failing")

    def _outcome(
        self,
        statement_id: str,
        status: str,
        error: str | None,
        started: float,
        *,
        cancelled: bool = False,
        failed_part: int | None = None,
    ) -> StatementOutcome:
        duration_ms = (self._clock() - started) * 1000.0
        return StatementOutcome(
            statement_id,
            StatementStatus(status),
            error,
            duration_ms,
            cancelled,
            failed_part if status == "FAILED" else None,
        )


def as_sqls(sql: str | Sequence[str]) -> tuple[str, ...]:
    """The SQL strings of one statement: a str is one (a str is a Sequence[str] too)."""
    sqls = (sql,) if isinstance(sql, str) else tuple(sql)
    if not 1 <= len(sqls) <= SQLS_PER_BATCH:
        raise ValueError(f"a statement carries 1 to {SQLS_PER_BATCH} SQL strings, not {len(sqls)}")
    return sqls


# What a batch's DescribeStatement says, and what is assumed here.
# Documented (the Data API reference and the service model): SubStatements lists one entry per
# SQL, with Id "<batch id>:<n>" (":2" is the second SQL), its own Status (SUBMITTED, PICKED,
# STARTED, FINISHED, ABORTED, FAILED) and "the error message from the cluster if the SQL
# statement encountered an error while running". The SQLs run serially, in order, each starting
# only once the one before it completed, as one transaction: "If any SQL statement fails, all
# work is rolled back".
# Not documented: what the SQLs around a failed one report (those before it ran, then were
# rolled back; those after it never started), nor whether the batch's own Error repeats the
# failed SQL's error or says something generic. So only the FAILED status is read: the failed
# SQL is the first sub-statement that reports FAILED (execution stops at a failure, so a later
# FAILED would be its echo), its index comes from its Id's suffix, and its own Error is the
# batch's error (the batch's Error when it has none, so classify_failure sees the cluster's
# words either way). No sub-statement FAILED (or an Id without a readable suffix): the service
# did not say, and failed_part is None. Only the batch's Status says whether anything committed.
def _failure(described: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """A described statement's error and, for a batch, the 0-based index of its failed SQL."""
    error = str(described.get("Error") or "") or None
    for sub in described.get("SubStatements") or ():
        if sub.get("Status") == "FAILED":
            _, _, suffix = str(sub.get("Id", "")).rpartition(":")
            part = int(suffix) - 1 if suffix.isdigit() and int(suffix) >= 1 else None
            return str(sub.get("Error") or "") or error, part
    return error, None


def _deadline_in_name(name: str) -> int | None:
    parts = name.split("/")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


def _field_text(field: Any) -> str | None:
    if field.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if key in field:
            return str(field[key])
    return None


def require_current_sdk(client: Any) -> None:
    """Fail the cold start, naming what is missing, when the client's botocore lacks a request
    member the function sends (its model would refuse every such request unsent)."""
    model = client.meta.service_model
    missing = [
        f"{operation}.{member}"
        for operation, members in _REQUIRED_MEMBERS.items()
        for member in members
        if member not in model.operation_model(operation).input_shape.members
    ]
    if missing:
        raise RuntimeError(
            f"botocore {botocore.__version__} does not know {', '.join(missing)}: ship the "
            "function with the botocore src/handler/requirements.txt pins"
        )
