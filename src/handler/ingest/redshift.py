"""The only module that talks to the Redshift Data API: submit, wait, cancel, classify."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.config import Target
from ingest.deadline import Deadline
from ingest.sql import Statement

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
else:
    RedshiftDataAPIServiceClient = Any

_TERMINAL = frozenset({"FINISHED", "FAILED", "ABORTED"})


class DataApiError(Exception):
    """Base of the few domain errors the Data API's failures are mapped to."""


class TransientError(DataApiError):
    """Worth retrying: internal errors, connection failures, lost locks."""


class QuotaExceeded(TransientError):
    """ActiveStatementsExceededException: too many statements in flight on the cluster."""


class Throttled(TransientError):
    """The account's Data API request rate was exceeded."""


class StatementRejected(DataApiError):
    """The service refused the statement as sent (ValidationException); its rows may be to blame."""


class TargetMisconfigured(DataApiError):
    """Access denied, unknown cluster or database, missing table: no row is to blame."""


class FailureKind(StrEnum):
    DATA = "data"  # a value the database rejects: bisect to find it
    TRANSIENT = "transient"  # retry the same rows
    CONFIGURATION = "configuration"  # retry later; an operator must act


# Redshift (and PostgreSQL) messages for a value the table cannot take.
_DATA_ERRORS = re.compile(
    r"value too long|invalid input syntax|out of range|overflow|invalid json|json_parse|"
    r"invalid byte sequence|cannot be cast|invalid digit|violates (check|not-null) constraint|"
    r"malformed|invalid timestamp|invalid value|character with byte sequence|string length exceeds",
    re.IGNORECASE,
)
_TRANSIENT_ERRORS = re.compile(
    r"serializable isolation|conflict with concurrent|deadlock|terminat|connection|timeout|"
    r"timed out|out of memory|disk full|temporarily|try again|internal error",
    re.IGNORECASE,
)
# The ValidationExceptions that rows can cause (statement size, parameters); splitting helps.
_ROW_ATTRIBUTABLE = re.compile(r"larger than|too large|too long|exceed|parameter", re.IGNORECASE)
_TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ActiveSessionsExceededException",
        "ExecuteStatementException",
    }
)
_THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


def classify_failure(error_text: str) -> FailureKind:
    """What a FAILED statement's error means for its rows."""
    if _DATA_ERRORS.search(error_text):
        return FailureKind.DATA
    if _TRANSIENT_ERRORS.search(error_text):
        return FailureKind.TRANSIENT
    # Unknown failures (missing table, permissions, syntax) are not the rows' fault: the rows
    # go back to the queue rather than to the dead-letter queue, so nothing is lost.
    return FailureKind.CONFIGURATION


def map_client_error(exc: ClientError | BotoCoreError) -> DataApiError:
    """Translate an SDK exception into one of our domain errors."""
    if isinstance(exc, BotoCoreError):
        return TransientError(f"{type(exc).__name__}: {exc}")
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "") or str(exc)
    if code == "ActiveStatementsExceededException":
        return QuotaExceeded(message)
    if code in _THROTTLE_CODES:
        return Throttled(message)
    if code in _TRANSIENT_CODES:
        return TransientError(f"{code}: {message}")
    if code == "ValidationException" and _ROW_ATTRIBUTABLE.search(message):
        return StatementRejected(message)
    # Other refusals (unknown cluster, bad credentials, access) are no row's fault.
    return TargetMisconfigured(f"{code}: {message}")


@dataclass(frozen=True)
class StatementOutcome:
    statement_id: str
    status: str  # FINISHED, FAILED, ABORTED, or UNKNOWN when even a cancel gave no answer
    error: str | None
    duration_ms: float
    cancelled: bool = False


class DataApi:
    """Runs one statement to its outcome, never waiting past the invocation's deadline."""

    def __init__(
        self,
        client: RedshiftDataAPIServiceClient,
        *,
        control_client: RedshiftDataAPIServiceClient | None = None,
        wait_seconds: int = 20,
        cancel_grace_seconds: float = 2.0,
        poll_initial_seconds: float = 0.05,
        poll_max_seconds: float = 2.0,
        supports_wait: bool | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        # Describe and cancel get a client with short timeouts: near the deadline a slow call
        # must not hold the invocation past Lambda's timeout.
        self._control = control_client or client
        self._cancel_grace = cancel_grace_seconds
        self._wait_seconds = wait_seconds
        self._poll_initial = poll_initial_seconds
        self._poll_max = poll_max_seconds
        self._supports_wait = _supports_wait(client) if supports_wait is None else supports_wait
        self._sleep = sleep
        self._clock = clock

    def new_client_token(self) -> str:
        """One token per logical submit: our own retries of it stay idempotent for 8 hours."""
        return str(uuid.uuid4())

    def execute(
        self, target: Target, statement: Statement, client_token: str, deadline: Deadline
    ) -> StatementOutcome:
        """Submit and wait. Raises a DataApiError subclass when the submit itself fails."""
        started = self._clock()
        request: dict[str, Any] = {
            **target.connection_arguments(),
            "Sql": statement.sql,
            "ClientToken": client_token,
        }
        if statement.parameters:
            request["Parameters"] = statement.data_api_parameters()
        wait = min(self._wait_seconds, int(deadline.remaining()))
        if self._supports_wait and wait >= 1:
            request["WaitTimeSeconds"] = wait
        try:
            response = self._client.execute_statement(**request)
        except (ClientError, BotoCoreError) as exc:
            raise map_client_error(exc) from exc
        statement_id = response["Id"]
        status = response.get("Status")  # present only when WaitTimeSeconds was honoured
        return self._await(statement_id, status, started, deadline)

    def _await(
        self, statement_id: str, status: str | None, started: float, deadline: Deadline
    ) -> StatementOutcome:
        delay = self._poll_initial
        described: dict[str, Any] | None = None
        # FAILED straight from the submit response still needs a describe for its error text.
        while status not in _TERMINAL or (status == "FAILED" and described is None):
            if status not in _TERMINAL:
                if deadline.expired():
                    return self._cancel(statement_id, started)
                if status is not None:
                    self._sleep(min(delay, deadline.remaining()))
                    delay = min(delay * 2, self._poll_max)
            try:
                described = dict(self._control.describe_statement(Id=statement_id))
            except (ClientError, BotoCoreError):
                # The statement was accepted and may already have committed: no describe error
                # may turn its rows into "refused" or "misconfigured" (that would write them
                # twice). Keep polling; at the deadline it is cancelled or reported UNKNOWN.
                status, described = "POLLING", None
                continue
            status = described["Status"]
        error = (described or {}).get("Error") or None
        return self._outcome(statement_id, status, error, started)

    def _cancel(self, statement_id: str, started: float) -> StatementOutcome:
        """Cancel at the deadline; if the statement won the race and finished, it counts."""
        # The margin after the deadline is for this and for answering SQS: stay within a grace.
        grace = Deadline.after(self._cancel_grace, self._clock)
        # A cancel fails if the statement already finished: the describe tells which way it went.
        with contextlib.suppress(ClientError, BotoCoreError):
            self._control.cancel_statement(Id=statement_id)
        delay = self._poll_initial
        while True:
            described: dict[str, Any]
            try:
                described = dict(self._control.describe_statement(Id=statement_id))
            except (ClientError, BotoCoreError):
                described = {"Status": "UNKNOWN"}
            status = str(described["Status"])
            if status in _TERMINAL:
                error = described.get("Error") or None
                return self._outcome(statement_id, status, error, started, cancelled=True)
            if grace.remaining() <= delay:
                return self._outcome(
                    statement_id, "UNKNOWN", "cancel unconfirmed", started, cancelled=True
                )
            self._sleep(delay)
            delay = min(delay * 2, self._poll_max)

    def _outcome(
        self,
        statement_id: str,
        status: str,
        error: str | None,
        started: float,
        *,
        cancelled: bool = False,
    ) -> StatementOutcome:
        duration_ms = (self._clock() - started) * 1000.0
        return StatementOutcome(statement_id, status, error, duration_ms, cancelled)


def _supports_wait(client: Any) -> bool:
    """True when the bundled botocore knows ExecuteStatement's WaitTimeSeconds."""
    try:
        shape = client.meta.service_model.operation_model("ExecuteStatement").input_shape
    except AttributeError:
        return False
    return "WaitTimeSeconds" in shape.members
