"""PostgreSQL + Data API service + HTTP server in one object, with the controls tests use."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3
import psycopg
from botocore.config import Config

from local.cluster import ClusterStats
from local.databases import Databases, database_name
from local.faults import DEFAULT_AFTER_COMMIT, DEFAULT_FAILURE
from local.model import FAST, RA3_LARGE, ClusterModel, ServiceConfig
from local.postgres import PostgresServer
from local.service import DataApiService
from local.translate import BindMode
from local.wire import DataApiHttpServer

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient


class LocalDataApi:
    """`with LocalDataApi() as api:` starts everything; `api.endpoint_url` is the Data API."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: ClusterModel = RA3_LARGE,
        config: ServiceConfig | None = None,
        postgres: PostgresServer | None = None,
    ) -> None:
        self._address = (host, port)
        self._model = model
        self._config = config
        self._own_postgres = postgres is None
        self.postgres = postgres or PostgresServer()
        self._databases: Databases | None = None
        self._service: DataApiService | None = None
        self._httpd: DataApiHttpServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        try:
            if self._own_postgres:
                self.postgres.start()
            self._databases = Databases(self.postgres)
            self._service = DataApiService(self._databases, config=self._config, model=self._model)
            self._httpd = DataApiHttpServer(self._address, self._service)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="local-data-api", daemon=True
            )
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._service is not None:
            self._service.abort_all()
            self._service = None
        if self._databases is not None:
            self._databases.close()
            self._databases = None
        if self._own_postgres:
            self.postgres.stop()

    @property
    def service(self) -> DataApiService:
        assert self._service is not None, "LocalDataApi is not started"
        return self._service

    @property
    def endpoint_url(self) -> str:
        assert self._httpd is not None, "LocalDataApi is not started"
        return self._httpd.endpoint_url

    @property
    def postgres_source(self) -> str:
        return f"{self.postgres.binaries.source}: {self.postgres.binaries.bindir}"

    def client(self, **config: Any) -> RedshiftDataAPIServiceClient:
        """A boto3 redshift-data client for this endpoint; no retries unless `retries=` says."""
        config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
        return boto3.client(
            "redshift-data",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (a dummy: signatures are not checked)
            config=Config(**config),
        )

    # ---- models, faults, counters ---------------------------------------------------------

    def reset(self, model: ClusterModel = FAST) -> None:
        """Between tests: abort everything, forget targets, faults and counters, drop every
        database, bind as configured."""
        self.service.reset(model)

    def declare_target(
        self, name: str, kind: str = "cluster", databases: Iterable[str] = ("dev",)
    ) -> None:
        """Make a cluster (kind="cluster") or serverless workgroup (kind="workgroup") exist with
        these databases. Submits naming an undeclared one are refused ("Redshift endpoint
        doesn't exist in this region."); statements on a database it lacks end FAILED."""
        self.service.declare_target(name, kind, databases)

    def set_bind_mode(self, mode: BindMode) -> None:
        """How a parameter name used twice is bound: "per-occurrence" or "shared"."""
        self.service.set_bind_mode(mode)

    def set_model(self, target: str, model: ClusterModel) -> None:
        self.service.set_model(target, model)

    def set_default_model(self, model: ClusterModel) -> None:
        self.service.set_default_model(model)

    def set_throttle(self, limits: dict[str, float]) -> None:
        self.service.set_throttle(limits)

    def set_max_request_bytes(self, limit: int | None, *, html: bool = False) -> None:
        """Submits whose JSON request body exceeds `limit` bytes get HTTP 413 (botocore: a
        ClientError with Error.Code "413"); None: no limit. reset() restores the config's."""
        self.service.set_max_request_bytes(limit, html=html)

    def fail_next(self, target: str, count: int = 1, error: str = DEFAULT_FAILURE) -> None:
        self.service.faults.fail_next(target, count, error)

    def refuse_values(self, target: str, text: str, error: str) -> None:
        self.service.faults.refuse_values(target, text, error)

    def hang_next(self, target: str, count: int = 1, after: int = 0) -> None:
        self.service.faults.hang_next(target, count, after)

    def reject_next(
        self, target: str, count: int = 1, code: str = "ActiveStatementsExceededException"
    ) -> None:
        self.service.faults.reject_next(target, count, code)

    def lose_cancel_race(self, target: str, count: int = 1) -> None:
        self.service.faults.lose_cancel_race(target, count)

    # The faults below are documented on local.faults.Faults.

    def lose_reply_next(
        self, target: str, count: int = 1, operation: str = "ExecuteStatement"
    ) -> None:
        self.service.faults.lose_reply_next(target, count, operation)

    def delay_reply_next(
        self, operation: str, seconds: float, count: int = 1, target: str | None = None
    ) -> None:
        self.service.faults.delay_reply_next(operation, seconds, count, target)

    def fail_cancel_next(
        self, target: str, count: int = 1, code: str = "ThrottlingException"
    ) -> None:
        self.service.faults.fail_cancel_next(target, count, code)

    def slow_cancel_next(
        self, target: str, count: int = 1, seconds: float = 2.0, outcome: str = "ABORTED"
    ) -> None:
        self.service.faults.slow_cancel_next(target, count, seconds, outcome)

    def server_fault_next(
        self,
        target: str,
        count: int = 1,
        code: str = "InternalServerException",
        operation: str = "ExecuteStatement",
    ) -> None:
        self.service.faults.server_fault_next(target, count, code, operation)

    def fail_describe_next(
        self, count: int = 1, code: str = "InternalServerException", target: str | None = None
    ) -> None:
        self.service.faults.fail_describe_next(count, code, target)

    def fail_after_commit_next(
        self, target: str, count: int = 1, error: str = DEFAULT_AFTER_COMMIT
    ) -> None:
        self.service.faults.fail_after_commit_next(target, count, error)

    def refuse_size_next(
        self,
        target: str,
        count: int = 1,
        wording: str | None = None,
        *,
        status: int = 400,
        html: bool = False,
    ) -> None:
        self.service.faults.refuse_size_next(target, count, wording, status=status, html=html)

    def fail_parameterised_next(
        self, target: str, count: int = 1, error: str | None = None
    ) -> None:
        self.service.faults.fail_parameterised_next(target, count, error)

    def fail_parameterised(self, target: str, error: str | None = None) -> None:
        self.service.faults.fail_parameterised(target, error)

    def clear_parameterised(self, target: str) -> None:
        self.service.faults.clear_parameterised(target)

    def deny_access(self, target: str) -> None:
        self.service.faults.deny_access(target)

    def allow_access(self, target: str) -> None:
        self.service.faults.allow_access(target)

    def stats(self, target: str) -> ClusterStats:
        return self.service.stats(target)

    def peak_active(self, target: str) -> int:
        return self.service.stats(target).peak_active

    def api_calls(self) -> dict[str, int]:
        return self.service.api_calls()

    # ---- the databases behind the targets -------------------------------------------------

    def database_name(self, target: str, database: str) -> str:
        return database_name(target, database)

    def connect(self, target: str, database: str) -> psycopg.Connection:
        """An autocommit connection to the database behind (cluster or workgroup, database)."""
        assert self._databases is not None, "LocalDataApi is not started"
        self.service.check_declared(target, database)
        return self._databases.connect(target, database)

    def execute_ddl(self, target: str, database: str, sql_text: str) -> None:
        """Run Redshift DDL (e.g. sql/create_table.sql) there, translated as the API would."""
        assert self._databases is not None, "LocalDataApi is not started"
        self.service.check_declared(target, database)
        self._databases.execute_ddl(target, database, sql_text)
