"""Builds the batch ingest from settings and SDK clients: the one composition root."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ingest.batch import BatchIngest
from ingest.catalog import TargetTables
from ingest.config import Settings
from ingest.dead_letter import DeadLetterQueue
from ingest.deadline import Deadlines
from ingest.layout import TableLayout
from ingest.limits import SQLS_PER_BATCH
from ingest.ports import DataApiClient
from ingest.presence import TargetPresence
from ingest.redshift import CallTimes, DataApi, require_current_sdk
from ingest.retry_policy import SDK_ATTEMPTS
from ingest.source_queue import SourceQueue
from ingest.sql import Limits
from ingest.statement_runner import StatementRunner
from ingest.writer import TargetWriter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any


@dataclass(frozen=True)
class ClientTimeouts:
    """Every SDK call makes one attempt (retry_policy.SDK_ATTEMPTS) with these timeouts; our own
    loops retry, within the invocation's deadlines. A call's worst case is connect + read
    (+ slack for DNS and TLS), and no call starts unless that much time is left, so a hung
    endpoint can never hold the function past its deadline."""

    connect: float = 1.0  # a regional endpoint connects in milliseconds; 1 s means a dead one
    control_read: float = 2.0  # describe, cancel, list, result pages: answered at once
    submit_read_extra: float = 5.0  # ExecuteStatement blocks up to WaitTimeSeconds, then answers
    sqs_read: float = 3.0
    slack: float = 0.5

    def call_times(self, settings: Settings) -> CallTimes:
        submit_read = settings.statement_wait_seconds + self.submit_read_extra
        return CallTimes(
            submit=self.connect + submit_read + self.slack,
            control=self.connect + self.control_read + self.slack,
        )

    def sqs_call_seconds(self) -> float:
        return self.connect + self.sqs_read + self.slack

    def config(self, read_seconds: float) -> Config:
        return Config(
            retries={"mode": "standard", "total_max_attempts": SDK_ATTEMPTS},
            connect_timeout=self.connect,
            read_timeout=read_seconds,
        )


@dataclass(frozen=True)
class Clients:
    redshift_submit: DataApiClient
    redshift_control: DataApiClient
    sqs: SQSClient


@dataclass(frozen=True)
class Timing:
    """Time as the function sees it; tests pass a clock that only moves when slept on."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall_clock: Callable[[], float] = time.time
    seed: int | None = None  # of the retry jitter


def default_clients(settings: Settings, timeouts: ClientTimeouts = ClientTimeouts()) -> Clients:
    """The SDK clients, from the environment's region and endpoints; RuntimeError at the cold
    start when the shipped botocore lacks a request member the function sends."""
    submit_read = settings.statement_wait_seconds + timeouts.submit_read_extra
    submit = boto3.client("redshift-data", config=timeouts.config(submit_read))
    require_current_sdk(submit)
    return Clients(
        redshift_submit=submit,
        redshift_control=boto3.client(
            "redshift-data", config=timeouts.config(timeouts.control_read)
        ),
        sqs=boto3.client("sqs", config=timeouts.config(timeouts.sqs_read)),
    )


def deadlines_for(
    settings: Settings,
    remaining_seconds: float,
    timing: Timing = Timing(),
    timeouts: ClientTimeouts = ClientTimeouts(),
) -> Deadlines:
    """The invocation's three deadlines from Lambda's remaining time (see Deadlines)."""
    return Deadlines.within(
        remaining_seconds - settings.deadline_margin_seconds,
        # One cancel and one describe at least, after the last statement stops being awaited.
        cancel_seconds=2 * timeouts.call_times(settings).control,
        # One dead-letter send and one delete of the sent records from their queue.
        dead_letter_seconds=2 * timeouts.sqs_call_seconds(),
        clock=timing.clock,
    )


def build_runner(
    settings: Settings,
    clients: Clients,
    timing: Timing = Timing(),
    timeouts: ClientTimeouts = ClientTimeouts(),
) -> tuple[DataApi, StatementRunner]:
    """The Data API client and the statement runner every statement of the function goes
    through (catalog reads, presence checks, transactions)."""
    rng = random.Random(timing.seed)  # noqa: S311 - jitter, not cryptography
    api = DataApi(
        clients.redshift_submit,
        control_client=clients.redshift_control,
        call_times=timeouts.call_times(settings),
        statement_name_prefix=settings.statement_name_prefix,
        wait_seconds=settings.statement_wait_seconds,
        sleep=timing.sleep,
        clock=timing.clock,
        wall_clock=timing.wall_clock,
        rng=rng,
    )
    runner = StatementRunner(
        api,
        max_transient_retries=settings.max_transient_retries,
        rng=rng,
        sleep=timing.sleep,
        clock=timing.clock,
    )
    return api, runner


def transaction_limits(settings: Settings) -> Limits:
    """The render limits the settings give. Each transaction opens with the column guard
    (column_guard.py), one of BatchExecuteStatement's SQLS_PER_BATCH SQLs, and claims its
    records (claim.py)."""
    return Limits(
        max_bytes=settings.statement_max_bytes,
        max_parameters=settings.statement_max_parameters,
        statements_per_transaction=min(settings.statements_per_transaction, SQLS_PER_BATCH - 1),
        max_request_bytes=settings.request_max_bytes,
        guarded=True,
        claims=True,
    )


def build_ingest(
    settings: Settings,
    clients: Clients | None = None,
    timing: Timing = Timing(),
    timeouts: ClientTimeouts = ClientTimeouts(),
    on_table_change: Callable[[str, TableLayout | None, TableLayout], None] | None = None,
) -> BatchIngest:
    """The one composition root: the handler, the tests, the demo and the benchmark use it.

    `on_table_change(target, before, after)` hears of every table layout read for the first
    time or found changed (the handler logs it)."""
    clients = clients or default_clients(settings, timeouts)
    api, runner = build_runner(settings, clients, timing, timeouts)
    tables = TargetTables(
        runner,
        table=settings.table,
        roles=settings.roles,
        limits=transaction_limits(settings),
        refresh_seconds=settings.schema_refresh_seconds,
        clock=timing.clock,
        on_change=on_table_change,
    )
    return BatchIngest(
        settings=settings,
        tables=tables,
        writer=TargetWriter(runner, TargetPresence(api, runner)),
        dead_letters=DeadLetterQueue(
            clients.sqs, settings.dead_letter_queue_url, call_seconds=timeouts.sqs_call_seconds()
        ),
        source=SourceQueue(clients.sqs, call_seconds=timeouts.sqs_call_seconds()),
    )
