"""Runs designs side by side, each under its setting on clusters of its own, and measures them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.aws import AwsResources
from bench.designs import (
    BACKLOG,
    FIREHOSE_TRICKLE_INTERVAL_SECONDS,
    STEADY_TAIL_SECONDS,
    TODAYS_TIMEOUT_SECONDS,
    TRICKLE,
    Design,
    Kind,
    Load,
    Setting,
)
from bench.firehose import FirehoseStream, Forwarder, StreamConfig, StreamCounts
from bench.freshness import Freshness, first_commits, measure, row_stamps
from bench.function import FunctionConfig
from bench.instances import InstanceConfig, InstancePool
from bench.legacy import LegacyConfig
from bench.load import Producer
from bench.pipes import PipesConfig
from bench.pollers import Invoker, PollerConfig, Tally, start_pollers
from bench.rates import sustained_rate
from bench.sampler import Sampler
from bench.sqs import SimulatedQueue
from bench.verify import Landing, compare, count_rows
from local.cluster import ClusterStats
from local.model import FAST
from local.stack import LocalDataApi

DATABASE = "dev"
TABLE = "public.appsflyer_events"
DB_USER = "ingest"
DDL = (Path(__file__).resolve().parent.parent / "sql" / "create_table.sql").read_text()
_TABLE_KEY = f"{DATABASE}.{TABLE}"  # how the cluster's records name it (local.writes)
# A poller's last invocation, then it stops (the longest timeout of any design).
_JOIN_SECONDS = TODAYS_TIMEOUT_SECONDS + 30
_DRAIN_SECONDS = 120.0  # statements still queued on the cluster, at the FAST model's pace
_TICK_SECONDS = 0.1


@dataclass(frozen=True)
class Bench:
    """What every design runs on: the local Data API, moto, the instance processes."""

    api: LocalDataApi
    aws: AwsResources
    pool: InstancePool


@dataclass(frozen=True)
class Run:
    """One design under one setting."""

    design: Design
    setting: Setting
    load: Load = BACKLOG

    @property
    def interval_seconds(self) -> float:
        """Firehose's buffering interval in this run (scaled under the trickle)."""
        if self.load is TRICKLE:
            return FIREHOSE_TRICKLE_INTERVAL_SECONDS
        return self.design.buffer_seconds


@dataclass(frozen=True)
class Commits:
    """The first target's commits into the table within the measured window, as the emulator
    recorded them (not as the function reports them), and its table's write-lock holds."""

    count: int
    rows: int
    written_bytes: int
    cost_seconds: float  # what the model charged for them, summed
    lock_hold_seconds: float  # mean, from first write to the commit's end
    lock_wait_seconds: float  # mean, from asking for the lock to getting it

    @property
    def rows_per_commit(self) -> float:
        return self.rows / self.count if self.count else 0.0

    @property
    def kb_per_commit(self) -> float:
        return self.written_bytes / 1000 / self.count if self.count else 0.0

    @property
    def commit_seconds(self) -> float:
        """The mean cost of one of these commits."""
        return self.cost_seconds / self.count if self.count else 0.0

    @property
    def ceiling_commits_per_second(self) -> float:
        """Commits/s if the cluster did nothing but commit these back to back."""
        return self.count / self.cost_seconds if self.cost_seconds > 0 else float("inf")

    @property
    def ceiling_rows_per_second(self) -> float:
        """The model's ceiling for this design: commits/s x rows per commit."""
        return self.rows / self.cost_seconds if self.cost_seconds > 0 else float("inf")

    @classmethod
    def of(cls, stats: ClusterStats, until: float) -> Commits:
        commits = [c for c in stats.commits if _TABLE_KEY in c.tables and c.ended_at <= until]
        holds = [
            h
            for h in stats.write_locks
            if h.table == _TABLE_KEY and h.released_at is not None and h.released_at <= until
        ]
        return cls(
            count=len(commits),
            rows=sum(c.rows for c in commits),
            written_bytes=sum(c.written_bytes for c in commits),
            cost_seconds=sum(c.cost_seconds for c in commits),
            lock_hold_seconds=_mean([(h.released_at or 0.0) - h.acquired_at for h in holds]),
            lock_wait_seconds=_mean([h.acquired_at - h.asked_at for h in holds]),
        )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass
class DesignResult:
    design: Design
    setting: Setting
    targets: list[str]
    elapsed: float  # the measured phase, seconds
    sent: int
    acknowledged: int
    landings: list[Landing]  # per target, after the cluster drained
    rows_in_window: int  # first target, at the end of the measured phase
    row_samples: list[tuple[float, int]]  # (seconds since start, rows), first target
    sustained_rows_per_second: float
    peak_active: list[int]  # per target
    quota_errors: int  # refused submits, all targets (the server's count)
    first_quota_error: float | None  # seconds since start
    active_timeline: list[tuple[float, int]]  # (seconds since start, active), first target
    dead_lettered: int
    tally: Tally
    redeliveries: int
    stale_deletes: int
    commits: Commits
    freshness: Freshness
    sqs_billed: dict[str, int]  # SQS requests as billed, per kind (bench/sqs.py)
    stream: StreamCounts | None = None  # the Firehose design's stream
    load: Load = BACKLOG
    interval_seconds: float = 0.0  # Firehose's buffering interval in this run

    @property
    def api_calls(self) -> dict[str, int]:
        """Data API requests the design's instances sent, refused ones included."""
        return dict(self.tally.api_calls)

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

    @property
    def share_of_ceiling(self) -> float:
        ceiling = self.commits.ceiling_rows_per_second
        return self.sustained_rows_per_second / ceiling if ceiling > 0 else 0.0


def _names(run: Run) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    key, setting = run.design.key.lower(), f"{run.setting.name}-{run.load.name}"
    return [f"bench-{key}-{setting}-{tag}-{chr(ord('a') + i)}" for i in range(run.design.targets)]


def _instance_config(design: Design, targets: list[str], dlq_url: str) -> InstanceConfig | None:
    if design.kind is Kind.FIREHOSE:
        return None  # its forwarder runs in the pollers' threads
    if design.kind is Kind.PIPES:
        return PipesConfig(targets[0], DATABASE, DB_USER, TABLE)
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
    if design.statements_per_transaction is not None:
        environment["STATEMENTS_PER_TRANSACTION"] = str(design.statements_per_transaction)
    return FunctionConfig(tuple(environment.items()), design.function_timeout)


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


def _inject_faults(api: LocalDataApi, design: Design, targets: list[str]) -> None:
    """One of each transient fault per target. Three at most can meet one statement, and the
    function retries a statement three times: all of them must be absorbed without a loss.
    The Firehose design's first COPY also commits and is then reported FAILED: its retry
    duplicates that flush (at least once)."""
    for target in targets:
        if design.kind is Kind.FIREHOSE:
            api.fail_after_commit_next(target, 1)
        api.reject_next(target, 1)
        api.reject_next(target, 1, "ThrottlingException")
        api.fail_next(target, 1, "ERROR: connection reset by peer (injected)")


@dataclass
class _Live:
    """One run while it is measured."""

    run: Run
    targets: list[str]
    dlq_url: str
    queue: SimulatedQueue
    sent: set[str]
    sampler: Sampler
    config: InstanceConfig | None
    producer: Producer | None = None
    stream: FirehoseStream | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    tally: Tally = field(default_factory=Tally)
    pollers: list[threading.Thread] = field(default_factory=list)
    ended: float | None = None

    def done(self, api: LocalDataApi) -> bool:
        return (
            (self.producer is None or self.producer.finished())
            and self.queue.all_acknowledged()
            and (self.stream is None or self.stream.idle())
            and all(api.stats(t).active == 0 for t in self.targets)
        )

    @property
    def run_seconds(self) -> float:
        load = self.run.load
        return load.seconds + STEADY_TAIL_SECONDS if load.steady else self.run.design.run_seconds

    def stopped(self) -> bool:
        return self.stop.is_set() and not any(p.is_alive() for p in self.pollers)


def _prepare(bench: Bench, run: Run, bodies: list[str]) -> _Live:
    api = bench.api
    targets = _names(run)
    for index, target in enumerate(targets):
        # The first a provisioned cluster, the others serverless workgroups (_instance_config).
        api.declare_target(target, "cluster" if index == 0 else "workgroup", (DATABASE,))
        api.set_model(target, run.setting.model)
        api.execute_ddl(target, DATABASE, DDL)
    dlq_url = bench.aws.create_queue(f"{targets[0]}-dlq")
    queue = SimulatedQueue(run.design.visibility_timeout)
    load = run.load
    producer = None
    if load.rate is None:
        sent = set(queue.send_many(bodies[: run.design.messages]))
    else:
        sent = set()
        producer = Producer(queue, bodies, load.rate, load.seconds)
    stream = None
    if run.design.kind is Kind.FIREHOSE:
        client = api.client(retries={"mode": "standard", "max_attempts": 3})
        config = StreamConfig(
            targets[0], DATABASE, DB_USER, TABLE, run.interval_seconds, run.design.buffer_bytes
        )
        stream = FirehoseStream(config, client)
    return _Live(
        run=run,
        targets=targets,
        dlq_url=dlq_url,
        queue=queue,
        sent=sent,
        sampler=Sampler(api, targets, DATABASE, TABLE),
        config=_instance_config(run.design, targets, dlq_url),
        producer=producer,
        stream=stream,
    )


def _invokers(bench: Bench, lives: list[_Live]) -> list[list[Invoker]]:
    """Per run, what its pollers invoke: its instance processes, or its Firehose forwarders."""
    processes = iter(
        bench.pool.configure(
            [(live.run.design.processes, live.config) for live in lives if live.config]
        )
    )
    invokers: list[list[Invoker]] = []
    for live in lives:
        if live.stream is not None:
            invokers.append([Forwarder(live.stream)] * live.run.design.instances)
        else:
            invokers.append(list(next(processes)))
    return invokers


def _start(live: _Live, instances: list[Invoker]) -> None:
    design = live.run.design
    if live.stream is not None:
        live.stream.start()
    if live.producer is not None:
        live.producer.start()
    live.sampler.start()
    live.pollers = start_pollers(
        live.queue,
        instances,
        PollerConfig(design.batch_size, design.batching_window, design.pause_seconds),
        live.stop,
        live.tally,
    )


def run_group(bench: Bench, runs: Sequence[Run], bodies: list[str]) -> list[DesignResult]:
    """Run these at the same time, each on clusters, a queue and instances of its own, and
    measure each: its window ends when its backlog is done or its run_seconds are up."""
    api = bench.api
    lives = [_prepare(bench, run, bodies) for run in runs]
    groups = _invokers(bench, lives)
    for live in lives:
        if live.run.design.faults:
            _inject_faults(api, live.run.design, live.targets)
    started = time.time()
    try:
        for live, instances in zip(lives, groups, strict=True):
            _start(live, instances)
        while any(live.ended is None for live in lives):
            for live in lives:
                if live.ended is not None:
                    continue
                over = time.time() - started >= live.run_seconds
                if not live.stop.is_set() and (over or live.done(api)):
                    live.stop.set()  # its pollers finish the batch they hold, then stop
                if live.stopped():
                    live.sampler.stop()
                    live.ended = time.time()
            time.sleep(_TICK_SECONDS)
    finally:
        for live in lives:  # also on an error: no poller or sampler may outlive its run
            live.stop.set()
        for live in lives:
            if live.producer is not None:
                live.producer.stop()
            for poller in live.pollers:
                poller.join(_JOIN_SECONDS)
            if live.ended is None:
                live.sampler.stop()
    for live in lives:
        if live.stream is not None:
            # What Firehose still holds is delivered after the window (at the FAST model's
            # pace), so that the loss count sees it; it is not measured.
            if not live.stream.idle():
                for target in live.targets:
                    api.set_model(target, FAST)
            live.stream.stop()
        _drain(api, live.targets)
    return [_result(bench, live, started) for live in lives]


def _result(bench: Bench, live: _Live, started: float) -> DesignResult:
    api = bench.api
    ended = live.ended if live.ended is not None else time.time()
    acknowledged = live.queue.acknowledged_ids()
    sent = live.sent if live.producer is None else live.producer.sent
    landings = [
        compare(count_rows(api, t, DATABASE, TABLE), sent, acknowledged) for t in live.targets
    ]
    stats = [api.stats(t) for t in live.targets]
    samples = [(t - started, n) for t, n in live.sampler.rows if t <= ended]
    timeline = [(t - started, n) for t, n in stats[0].timeline if t <= ended]
    rejected_at = live.sampler.first_rejection_at
    stamps = row_stamps(api, live.targets[0], DATABASE, TABLE)
    return DesignResult(
        design=live.run.design,
        setting=live.run.setting,
        targets=live.targets,
        elapsed=ended - started,
        sent=len(sent),
        acknowledged=len(acknowledged),
        landings=landings,
        rows_in_window=samples[-1][1] if samples else 0,
        row_samples=samples,
        sustained_rows_per_second=sustained_rate(samples),
        peak_active=[s.peak_active for s in stats],
        quota_errors=sum(s.rejected for s in stats),
        first_quota_error=None if rejected_at is None else rejected_at - started,
        active_timeline=timeline,
        dead_lettered=bench.aws.queue_depth(live.dlq_url),
        tally=live.tally,
        redeliveries=live.queue.redeliveries(),
        stale_deletes=live.queue.stale_deletes(),
        commits=Commits.of(stats[0], ended),
        freshness=measure(live.queue.sent_at(), first_commits(stamps, stats[0].commits, ended)),
        sqs_billed=live.queue.billed_requests(),
        stream=None if live.stream is None else live.stream.counts,
        load=live.run.load,
        interval_seconds=live.run.interval_seconds,
    )
