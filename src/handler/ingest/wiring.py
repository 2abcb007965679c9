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
from ingest.config import Settings
from ingest.dead_letter import DeadLetterQueue
from ingest.deadline import Deadlines
from ingest.presence import TargetPresence
from ingest.redshift import CallTimes, DataApi
from ingest.statement_runner import StatementRunner
from ingest.writer import TargetWriter

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = RedshiftDataAPIServiceClient = Any

# Every SDK call makes one attempt with these timeouts; our own loops retry, within the
# invocation's deadlines. A call's worst case is connect + read (+ slack for DNS and TLS), and
# no call starts unless that much time is left, so a hung endpoint can never hold the function
# past its deadline.
CONNECT_SECONDS = 1.0  # a regional endpoint connects in milliseconds; 1 s is a dead one
CONTROL_READ_SECONDS = 2.0  # describe, cancel, list, result pages: the service answers at once
SUBMIT_READ_EXTRA_SECONDS = 5.0  # ExecuteStatement may block for WaitTimeSeconds, then answers
SQS_READ_SECONDS = 3.0
SLACK_SECONDS = 0.5


@dataclass(frozen=True)
class Clients:
    redshift_submit: RedshiftDataAPIServiceClient
    redshift_control: RedshiftDataAPIServiceClient
    sqs: SQSClient


@dataclass(frozen=True)
class Timing:
    """Time as the function sees it; tests pass a clock that only moves when slept on."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall_clock: Callable[[], float] = time.time
    seed: int | None = None  # of the retry jitter


def call_times(settings: Settings) -> CallTimes:
    submit = CONNECT_SECONDS + settings.statement_wait_seconds + SUBMIT_READ_EXTRA_SECONDS
    return CallTimes(
        submit=submit + SLACK_SECONDS,
        control=CONNECT_SECONDS + CONTROL_READ_SECONDS + SLACK_SECONDS,
    )


def sqs_call_seconds() -> float:
    return CONNECT_SECONDS + SQS_READ_SECONDS + SLACK_SECONDS


def _config(read_seconds: float) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=CONNECT_SECONDS,
        read_timeout=read_seconds,
    )


def default_clients(settings: Settings) -> Clients:
    submit_read = settings.statement_wait_seconds + SUBMIT_READ_EXTRA_SECONDS
    return Clients(
        redshift_submit=boto3.client("redshift-data", config=_config(submit_read)),
        redshift_control=boto3.client("redshift-data", config=_config(CONTROL_READ_SECONDS)),
        sqs=boto3.client("sqs", config=_config(SQS_READ_SECONDS)),
    )


def deadlines_for(
    settings: Settings, remaining_seconds: float, timing: Timing = Timing()
) -> Deadlines:
    """The invocation's three deadlines from Lambda's remaining time (see Deadlines)."""
    times = call_times(settings)
    return Deadlines.within(
        remaining_seconds - settings.deadline_margin_seconds,
        # One cancel and one describe at least, after the last statement stops being awaited.
        cancel_seconds=2 * times.control,
        dead_letter_seconds=sqs_call_seconds(),
        clock=timing.clock,
    )


def build_ingest(
    settings: Settings, clients: Clients | None = None, timing: Timing = Timing()
) -> BatchIngest:
    clients = clients or default_clients(settings)
    rng = random.Random(timing.seed)  # noqa: S311 - jitter, not cryptography
    api = DataApi(
        clients.redshift_submit,
        control_client=clients.redshift_control,
        call_times=call_times(settings),
        statement_name_prefix=settings.statement_name_prefix,
        wait_seconds=settings.statement_wait_seconds,
        poll_initial_seconds=settings.poll_initial_seconds,
        poll_max_seconds=settings.poll_max_seconds,
        sleep=timing.sleep,
        clock=timing.clock,
        wall_clock=timing.wall_clock,
        rng=rng,
    )
    runner = StatementRunner(
        api,
        max_transient_retries=settings.max_transient_retries,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        rng=rng,
        sleep=timing.sleep,
        clock=timing.clock,
    )
    writer = TargetWriter(
        runner,
        TargetPresence(api, runner, settings.table),
        table=settings.table,
        max_bytes=settings.statement_max_bytes,
        max_parameters=settings.statement_max_parameters,
    )
    return BatchIngest(
        settings=settings,
        writer=writer,
        dead_letters=DeadLetterQueue(
            clients.sqs, settings.dead_letter_queue_url, call_seconds=sqs_call_seconds()
        ),
    )
