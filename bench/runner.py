"""Runs one design against a fresh cluster of the model and measures it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.aws import AwsResources
from bench.designs import FUNCTION_TIMEOUT_SECONDS, Design, Kind
from bench.function import FunctionConfig
from bench.instances import InstanceConfig, InstancePool
from bench.legacy import LegacyConfig
from bench.pollers import PollerConfig, Tally, start_pollers
from bench.rates import sustained_rate
from bench.sampler import Sampler
from bench.sqs import SimulatedQueue
from bench.verify import Landing, compare, count_rows
from local.model import FAST, ClusterModel
from local.stack import LocalDataApi

DATABASE = "dev"
TABLE = "public.appsflyer_events"
DB_USER = "ingest"
DDL = (Path(__file__).resolve().parent.parent / "sql" / "create_table.sql").read_text()
_JOIN_SECONDS = FUNCTION_TIMEOUT_SECONDS + 30  # a poller's last invocation, then it stops
_DRAIN_SECONDS = 120.0  # statements still queued on the cluster, at the FAST model's pace


@dataclass(frozen=True)
class Bench:
    """What every design runs on: the local Data API, moto, the instance processes."""

    api: LocalDataApi
    aws: AwsResources
    pool: InstancePool
    model: ClusterModel


@dataclass
class DesignResult:
    design: Design
    model: ClusterModel
    targets: list[str]
    elapsed: float  # the measured phase, seconds
    sent: int
    acknowledged: int
    landings: list[Landing]  # per target, after the cluster drained
    rows_in_window: int  # first target, at the end of the measured phase
    row_samples: list[tuple[float, int]]  # (seconds since start, rows), first target
    sustained_rows_per_second: float
    api_calls: dict[str, int]
    peak_active: list[int]  # per target
    quota_errors: int  # refused submits, all targets (the server's count)
    first_quota_error: float | None  # seconds since start
    active_timeline: list[tuple[float, int]]  # (seconds since start, active), first target
    dead_lettered: int
    tally: Tally
    redeliveries: int
    stale_deletes: int

    @property
    def left_in_queue(self) -> int:
        return self.sent - self.acknowledged

    @property
    def rows_landed(self) -> int:
        return self.landings[0].rows

    @property
    def calls_per_thousand_rows(self) -> float:
        total = sum(self.api_calls.values())
        return 1000.0 * total / self.rows_landed if self.rows_landed else float("inf")

    @property
    def lost(self) -> int:
        return sum(landing.lost for landing in self.landings)

    @property
    def duplicated(self) -> int:
        return sum(landing.duplicated for landing in self.landings)

    @property
    def cpu_us_per_record(self) -> float:
        records = self.tally.records
        return 1e6 * self.tally.cpu_seconds / records if records else 0.0


def _names(design: Design) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"bench-{design.key}-{run}-{chr(ord('a') + i)}" for i in range(design.targets)]


def _instance_config(design: Design, targets: list[str], dlq_url: str) -> InstanceConfig:
    if design.kind is Kind.LEGACY:
        return LegacyConfig(design.rows_per_insert, targets[0], DATABASE, DB_USER, TABLE)
    described = [
        # The first a provisioned cluster, the second a serverless workgroup: both shapes run.
        {"name": "primary", "database": DATABASE, "cluster_identifier": targets[0]}
        | {"db_user": DB_USER}
    ] + [{"name": "secondary", "database": DATABASE, "workgroup_name": t} for t in targets[1:]]
    environment = {
        "REDSHIFT_TARGETS": json.dumps(described),
        "TARGET_TABLE": TABLE,
        "DEAD_LETTER_QUEUE_URL": dlq_url,
    }
    return FunctionConfig(tuple(environment.items()), FUNCTION_TIMEOUT_SECONDS)


def _done(bench: Bench, queue: SimulatedQueue, targets: list[str]) -> bool:
    return queue.all_acknowledged() and all(bench.api.stats(t).active == 0 for t in targets)


def _drain(api: LocalDataApi, targets: list[str]) -> None:
    """Let statements the old designs left queued on the cluster commit, quickly: whether
    they land is part of the loss count, how fast is not part of the measurement."""
    started = time.monotonic()
    for target in targets:
        if api.stats(target).active:
            api.set_model(target, FAST)
    while any(api.stats(t).active for t in targets):
        if time.monotonic() - started > _DRAIN_SECONDS:
            raise TimeoutError(f"clusters {targets} did not drain in {_DRAIN_SECONDS:.0f} s")
        time.sleep(0.1)


def _inject_faults(api: LocalDataApi, targets: list[str]) -> None:
    """One of each transient fault per target. Three at most can meet one statement, and the
    function retries a statement three times: all of them must be absorbed without a loss."""
    for target in targets:
        api.reject_next(target, 1)
        api.reject_next(target, 1, "ThrottlingException")
        api.fail_next(target, 1, "ERROR: connection reset by peer (injected)")


def run_design(bench: Bench, design: Design, bodies: list[str]) -> DesignResult:
    api = bench.api
    targets = _names(design)
    for index, target in enumerate(targets):
        # The first a provisioned cluster, the others serverless workgroups (_instance_config).
        api.declare_target(target, "cluster" if index == 0 else "workgroup", (DATABASE,))
        api.set_model(target, bench.model)
        api.execute_ddl(target, DATABASE, DDL)
    dlq_url = bench.aws.create_queue(f"{targets[0]}-dlq")
    instances = bench.pool.configure(design.instances, _instance_config(design, targets, dlq_url))
    queue = SimulatedQueue(design.visibility_timeout)
    sent = set(queue.send_many(bodies[: design.messages]))
    if design.faults:
        _inject_faults(api, targets)
    calls_before = api.api_calls()
    sampler = Sampler(api, targets, DATABASE, TABLE)
    stop = threading.Event()
    tally = Tally()
    sampler.start()
    started = time.time()
    pollers: list[threading.Thread] = []
    try:
        pollers = start_pollers(
            queue,
            instances,
            PollerConfig(design.batch_size, design.batching_window, design.pause_seconds),
            stop,
            tally,
        )
        while time.time() - started < design.run_seconds and not _done(bench, queue, targets):
            time.sleep(0.1)
    finally:
        stop.set()  # also on an error: no poller or sampler may outlive its design
        for poller in pollers:
            poller.join(_JOIN_SECONDS)
        sampler.stop()
    ended = time.time()
    calls_after = api.api_calls()
    _drain(api, targets)

    acknowledged = queue.acknowledged_ids()
    landings = [compare(count_rows(api, t, DATABASE, TABLE), sent, acknowledged) for t in targets]
    stats = [api.stats(t) for t in targets]
    samples = [(t - started, n) for t, n in sampler.rows if t <= ended]
    timeline = [(t - started, n) for t, n in stats[0].timeline if t <= ended]
    rejected_at = sampler.first_rejection_at
    return DesignResult(
        design=design,
        model=bench.model,
        targets=targets,
        elapsed=ended - started,
        sent=len(sent),
        acknowledged=len(acknowledged),
        landings=landings,
        rows_in_window=samples[-1][1] if samples else 0,
        row_samples=samples,
        sustained_rows_per_second=sustained_rate(samples),
        api_calls={
            op: n - calls_before.get(op, 0)
            for op, n in calls_after.items()
            if n > calls_before.get(op, 0)
        },
        peak_active=[s.peak_active for s in stats],
        quota_errors=sum(s.rejected for s in stats),
        first_quota_error=None if rejected_at is None else rejected_at - started,
        active_timeline=timeline,
        dead_lettered=bench.aws.queue_depth(dlq_url),
        tally=tally,
        redeliveries=queue.redeliveries(),
        stale_deletes=queue.stale_deletes(),
    )
