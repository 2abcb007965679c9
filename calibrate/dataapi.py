"""The Redshift Data API for calibrate: submit, poll DescribeStatement to the end, cancel."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

_ENDED = frozenset({"FINISHED", "FAILED", "ABORTED"})
# DescribeStatement is throttled per account and region (about 100/s reported): all writers
# together stay under this many calls per second.
DESCRIBE_PER_SECOND = 40.0
_CANCEL_WAIT_SECONDS = 30.0  # how long a cancelled statement is watched for its end


@dataclass(frozen=True)
class Target:
    """Where the statements go: a cluster (db user or secret) or a workgroup (secret or IAM)."""

    database: str
    cluster_identifier: str | None = None
    db_user: str | None = None
    workgroup_name: str | None = None
    secret_arn: str | None = None

    def __post_init__(self) -> None:
        if not self.database:
            raise ValueError("--database is required")
        if bool(self.cluster_identifier) == bool(self.workgroup_name):
            raise ValueError("give exactly one of --cluster-id and --workgroup")
        if self.cluster_identifier and bool(self.db_user) == bool(self.secret_arn):
            raise ValueError("a cluster needs exactly one of --db-user and --secret-arn")
        if self.workgroup_name and self.db_user:
            raise ValueError("--db-user is for clusters; a workgroup takes --secret-arn or IAM")

    def request(self) -> dict[str, str]:
        """The Data API arguments that name this target."""
        fields = {
            "Database": self.database,
            "ClusterIdentifier": self.cluster_identifier,
            "DbUser": self.db_user,
            "WorkgroupName": self.workgroup_name,
            "SecretArn": self.secret_arn,
        }
        return {key: value for key, value in fields.items() if value}

    def describe(self) -> str:
        where = (
            f"cluster {self.cluster_identifier}"
            if self.cluster_identifier
            else f"workgroup {self.workgroup_name}"
        )
        who = f"db user {self.db_user}" if self.db_user else "secret" if self.secret_arn else "IAM"
        return f"{where}, database {self.database} ({who})"


@dataclass(frozen=True)
class Timing:
    """A statement's CreatedAt and its UpdatedAt once FINISHED, as the service stamped them
    (UNIX seconds): free of the polling interval, on one clock."""

    created: float
    finished: float


class StatementError(Exception):
    """A statement ended FAILED or ABORTED, or outlasted its timeout."""


class Stopped(Exception):
    """The run was stopped (Ctrl-C or another writer's error): the statement was cancelled."""


class Budget:
    """Measurement submits allowed: at most `max_statements`, none after `seconds`."""

    def __init__(
        self, seconds: float, max_statements: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._deadline = clock() + seconds
        self._left = max_statements
        self._lock = threading.Lock()
        self.spent = ""  # why the budget ran out, once it has

    def take(self) -> bool:
        """Reserve one submit; False once the budget is spent."""
        with self._lock:
            if self._clock() >= self._deadline:
                self.spent = self.spent or "--budget-seconds reached"
                return False
            if self._left <= 0:
                self.spent = self.spent or "--max-statements reached"
                return False
            self._left -= 1
            return True


class DataApi:
    """Runs one transaction at a time per calling thread and waits for it by polling."""

    def __init__(
        self,
        client: RedshiftDataAPIServiceClient,
        target: Target,
        *,
        statement_name: str,
        statement_timeout: float,
        abort: threading.Event,
        poll_seconds: float = 0.05,
    ) -> None:
        self._client = client
        self._target = target
        self._name = statement_name
        self._timeout = statement_timeout
        self._abort = abort
        self._poll = poll_seconds
        self._lock = threading.Lock()
        self.submits = 0  # every ExecuteStatement and BatchExecuteStatement that was accepted
        self.sql_statements = 0  # the SQL strings they carried

    def run(
        self,
        sqls: Sequence[str],
        parameters: list[dict[str, str]] | None = None,
        *,
        writers: int = 1,
    ) -> Timing:
        """Submit and wait for the end; when the service says it was created and finished.

        Raises StatementError (FAILED, ABORTED, too slow) or Stopped (abort was set: the
        statement is cancelled first). `writers` polling at once share DESCRIBE_PER_SECOND.
        """
        if self._abort.is_set():
            raise Stopped
        poll = max(self._poll, writers / DESCRIBE_PER_SECOND)
        common: dict[str, Any] = dict(self._target.request(), StatementName=self._name)
        if parameters:
            common["Parameters"] = parameters
        started = time.monotonic()
        if len(sqls) == 1:
            statement_id = self._client.execute_statement(Sql=sqls[0], **common)["Id"]
        else:
            statement_id = self._client.batch_execute_statement(Sqls=list(sqls), **common)["Id"]
        with self._lock:
            self.submits += 1
            self.sql_statements += len(sqls)
        try:
            while True:
                if self._abort.wait(poll):
                    self._cancel(statement_id)
                    raise Stopped
                described = self._client.describe_statement(Id=statement_id)
                status = described["Status"]
                if status in _ENDED:
                    break
                if time.monotonic() - started > self._timeout:
                    self._cancel(statement_id)
                    raise StatementError(f"statement {statement_id} ran over {self._timeout:.0f} s")
        except KeyboardInterrupt:
            # Ctrl-C while the main thread waits (the CREATE): a CREATE that finished after
            # the DROP would leave the table behind.
            self._cancel(statement_id)
            raise
        if status != "FINISHED":
            error = described.get("Error", "no error text")
            raise StatementError(f"statement {statement_id} {status}: {error}")
        return Timing(described["CreatedAt"].timestamp(), described["UpdatedAt"].timestamp())

    def _cancel(self, statement_id: str) -> None:
        """Cancel and watch until it ended, so that a DROP after it does not wait on its lock."""
        with contextlib.suppress(ClientError):  # it ended meanwhile: the watch sees how
            self._client.cancel_statement(Id=statement_id)
        deadline = time.monotonic() + _CANCEL_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if self._client.describe_statement(Id=statement_id)["Status"] in _ENDED:
                    return
            except ClientError:
                return
            time.sleep(0.2)
