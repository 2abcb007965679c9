"""The designs compared, their sizes in the full and quick runs, and the settings they run under."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from local.model import BASE, SETTINGS, ClusterModel


class Kind(StrEnum):
    LEGACY = "legacy"  # the old worker fleet: submit, never wait
    FUNCTION = "function"  # this project's function behind a simulated event source mapping
    FIREHOSE = "firehose"  # peer: SQS forwarder, Firehose buffer, one COPY per flush
    PIPES = "pipes"  # peer: EventBridge Pipes, one templated INSERT per event, not waited for


@dataclass(frozen=True)
class Load:
    """How messages are offered: all queued before the start (a backlog to drain), or sent at
    a steady rate for a while."""

    name: str
    title: str
    rate: float | None  # messages per second; None: the design's backlog, queued at once
    seconds: float = 0.0  # how long the steady rate is sent

    @property
    def steady(self) -> bool:
        return self.rate is not None


BACKLOG = Load("backlog", "backlog drain", None)
# A quiet hour's trickle, and the seed's peak of 400 rows/s (README, "Why this exists").
TRICKLE = Load("trickle", "steady trickle, 5 msg/s", 5.0, 40.0)
PEAK = Load("peak", "the seed's peak, 400 msg/s", 400.0, 10.0)
LOADS = (TRICKLE, PEAK, BACKLOG)
# A steady load's run ends this long after the last send (or earlier, once all is committed):
# what has not committed by then is reported as not committed within the window.
STEADY_TAIL_SECONDS = 15.0


# The old system's queue: the reference doc asks for "> 60 seconds". Scaled down so that the
# messages its submits lost to the quota come back (and are refused again) inside its window.
LEGACY_VISIBILITY_SECONDS = 10.0
# This project's function timeout: template.yaml's FunctionTimeoutSeconds default. The
# template derives the visibility timeout from it.
FUNCTION_TIMEOUT_SECONDS = 60.0
# Today's design (4, 5) keeps the timeout the template had before issue 12: its invocations
# run a batch's INSERTs one commit at a time, and under 1.5 s per statement 60 s is too short.
TODAYS_TIMEOUT_SECONDS = 120.0
# template.yaml's throughput defaults, derived from calibrate.recommend under the BASE model
# (docs/capacity.md); tests/template checks that the two agree.
DEFAULT_BATCH_SIZE = 680
DEFAULT_BATCHING_WINDOW_SECONDS = 2.0
DEFAULT_MAXIMUM_CONCURRENCY = 5
# Which design is which in the comparisons (goals, ratios, plots).
OLD_FASTEST = "2"  # the old system's cluster-bound design: 20 workers, 10-row INSERTs
OLD_FINAL_FIX = "3"  # the old system's last configuration, paced by its own pause
TODAY = "5"  # this project before issue 12: one INSERT per transaction
NEW = "6"  # this project with STATEMENTS_PER_TRANSACTION at its default
FIREHOSE = "F"  # peer: Amazon Data Firehose behind an SQS forwarder
PIPES = "P"  # peer: EventBridge Pipes with a Redshift Data API target
PEERS = (FIREHOSE, PIPES)
# Firehose's buffering interval under the trickle: its default (300 s) scaled by 1/10, so that
# a 40 s trickle is delivered within the run; under the backlog and the peak the 5 MiB size
# fills first (4.1 KB messages at 400/s: 5 MiB in 3.2 s), so the default stands.
FIREHOSE_TRICKLE_INTERVAL_SECONDS = 30.0
FIREHOSE_FORWARDER_BATCH = 500  # PutRecordBatch's maximum records per call


@dataclass(frozen=True)
class Setting:
    """A named cluster model that every design of a run is measured under."""

    name: str
    model: ClusterModel


FULL_SETTINGS = tuple(Setting(name, model) for name, model in SETTINGS.items())
QUICK_SETTINGS = (Setting("base", BASE),)


@dataclass(frozen=True)
class Design:
    key: str
    title: str  # one line, for the table
    label: str  # short, for plot legends
    kind: Kind
    instances: int  # workers, or the event source's MaximumConcurrency
    batch_size: int  # messages per receive (old: SQS's 10) or per invocation
    messages: int  # the backlog queued before the run starts
    run_seconds: float  # old designs: the measured window; this project: an upper bound
    batching_window: float = 0.0
    function_timeout: float = FUNCTION_TIMEOUT_SECONDS
    pause_seconds: float = 0.0  # after each batch (the old final fix's delay)
    rows_per_insert: int = 0  # old designs only
    # The function's STATEMENTS_PER_TRANSACTION; None: unset, the function's default.
    statements_per_transaction: int | None = None
    targets: int = 1
    compared: bool = True  # False: an extra run that only checks invariants
    faults: bool = False  # inject refusals and a failure that the function must retry
    buffer_seconds: float = 0.0  # Firehose: the buffering interval
    buffer_bytes: int = 0  # Firehose: the buffering size
    # Settings this design runs under alone, after the others ran side by side: a design that
    # keeps the machine's CPU busy under a setting would otherwise slow the local Data API and
    # PostgreSQL that its other settings are measured through (the write lock is held while
    # PostgreSQL executes).
    settings_alone: tuple[str, ...] = ()

    @property
    def processes(self) -> int:
        """Instance processes it needs (the Firehose forwarder runs in its pollers' threads)."""
        return 0 if self.kind is Kind.FIREHOSE else self.instances

    @property
    def at_least_once(self) -> bool:
        """May deliver a message twice by design (Firehose's retried COPY)."""
        return self.kind is Kind.FIREHOSE

    @property
    def visibility_timeout(self) -> float:
        if self.kind in (Kind.LEGACY, Kind.PIPES):
            return LEGACY_VISIBILITY_SECONDS
        # template.yaml: 6 x the function timeout + the batching window.
        return 6 * self.function_timeout + self.batching_window

    @property
    def active_bound(self) -> int | None:
        """This project's promise: at most one statement in flight per invocation and target."""
        return self.instances if self.kind is Kind.FUNCTION else None

    @property
    def transaction_text(self) -> str:
        """How the design groups INSERTs into transactions, for tables."""
        if self.kind is Kind.LEGACY:
            return "1 INSERT"
        if self.kind is Kind.FIREHOSE:
            return "1 COPY"
        if self.kind is Kind.PIPES:
            return "1 INSERT (batch of 1)"
        if self.statements_per_transaction is None:
            return "default"
        return f"{self.statements_per_transaction} INSERT" + (
            "s" if self.statements_per_transaction > 1 else ""
        )


# The old designs run 10 s against a backlog they cannot finish: they reach their steady state
# (the quota, or their own pause) within 3 s, and the fire-and-forget ones keep hundreds of
# statements queued on the cluster to the end (what the quota refused stays invisible for
# LEGACY_VISIBILITY_SECONDS, so their active count drifts down from 500 meanwhile).
# This project's designs run until their backlog is done: 10 batches of 1,000 keep
# MaximumConcurrency 10 busy for one wave.
OLD_WINDOW_SECONDS = 10.0
_UNTIL_DONE = 200.0
# 20 workers resubmitting what the quota refused keep both cores busy under any setting.
_CHURNING = tuple(SETTINGS)
# Under low, 1,000-row transactions commit as fast as this machine can execute them.
_MACHINE_BOUND = ("low",)


def full_designs() -> list[Design]:
    return [
        Design(
            "1",
            "old: one INSERT per message, 20 workers, fire-and-forget",
            "1 old: 1 row/INSERT, 20 workers",
            Kind.LEGACY,
            instances=20,
            batch_size=10,
            messages=2_500,
            run_seconds=OLD_WINDOW_SECONDS,
            rows_per_insert=1,
            settings_alone=_CHURNING,
        ),
        Design(
            OLD_FASTEST,
            'old: 10-row INSERTs, 20 workers, fire-and-forget ("batch insert upgrade")',
            "2 old: 10 rows/INSERT, 20 workers",
            Kind.LEGACY,
            instances=20,
            batch_size=10,
            messages=9_000,
            run_seconds=OLD_WINDOW_SECONDS,
            rows_per_insert=10,
            settings_alone=_CHURNING,
        ),
        Design(
            OLD_FINAL_FIX,
            "old: 10-row INSERTs, 3 workers, 2 s pause (its final fix)",
            "3 old: 10 rows, 3 workers, 2 s pause",
            Kind.LEGACY,
            instances=3,
            batch_size=10,
            messages=400,
            run_seconds=OLD_WINDOW_SECONDS,
            pause_seconds=2.0,
            rows_per_insert=10,
        ),
        Design(
            "4",
            "this project: batch size 10, MaximumConcurrency 10, one INSERT per transaction",
            "4 this: batch 10, 1 INSERT/transaction",
            Kind.FUNCTION,
            instances=10,
            batch_size=10,
            messages=600,
            run_seconds=_UNTIL_DONE,
            statements_per_transaction=1,
            function_timeout=TODAYS_TIMEOUT_SECONDS,
        ),
        Design(
            TODAY,
            "this project before issue 12: batch size 1,000, 5 s window, MaximumConcurrency 10, "
            "STATEMENTS_PER_TRANSACTION=1",
            "5 this: batch 1,000, 1 INSERT/transaction",
            Kind.FUNCTION,
            instances=10,
            batch_size=1_000,
            batching_window=5.0,
            messages=10_000,
            run_seconds=_UNTIL_DONE,
            statements_per_transaction=1,
            function_timeout=TODAYS_TIMEOUT_SECONDS,
        ),
        Design(
            NEW,
            "this project with template.yaml's defaults: batch size 680, 2 s window, "
            "MaximumConcurrency 5, STATEMENTS_PER_TRANSACTION unset (default 40)",
            "6 this: template defaults, transactions",
            Kind.FUNCTION,
            instances=DEFAULT_MAXIMUM_CONCURRENCY,
            batch_size=DEFAULT_BATCH_SIZE,
            batching_window=DEFAULT_BATCHING_WINDOW_SECONDS,
            messages=10_000,
            run_seconds=_UNTIL_DONE,
            settings_alone=_MACHINE_BOUND,
        ),
        firehose_design(),
        pipes_design(),
        Design(
            "6b",
            "this project: as 6, two targets (invariants only)",
            "6b this: two targets",
            Kind.FUNCTION,
            instances=DEFAULT_MAXIMUM_CONCURRENCY,
            batch_size=DEFAULT_BATCH_SIZE,
            batching_window=DEFAULT_BATCHING_WINDOW_SECONDS,
            messages=10_000,
            run_seconds=_UNTIL_DONE,
            targets=2,
            compared=False,
            settings_alone=_MACHINE_BOUND,
        ),
    ]


def firehose_design(messages: int = 10_000, interval: float = 300.0) -> Design:
    return Design(
        FIREHOSE,
        f"peer: Firehose, SQS forwarder (batch {FIREHOSE_FORWARDER_BATCH}, MaximumConcurrency "
        f"5), buffer 5 MiB / {interval:g} s, one COPY per flush, retried",
        "F peer: Firehose (COPY per flush)",
        Kind.FIREHOSE,
        instances=DEFAULT_MAXIMUM_CONCURRENCY,
        batch_size=FIREHOSE_FORWARDER_BATCH,
        batching_window=DEFAULT_BATCHING_WINDOW_SECONDS,
        messages=messages,
        run_seconds=_UNTIL_DONE,
        buffer_seconds=interval,
        buffer_bytes=5 * 1024 * 1024,
    )


def pipes_design(messages: int = 9_000) -> Design:
    return Design(
        PIPES,
        "peer: EventBridge Pipes, 10 pollers of 10 messages, one templated INSERT per event, "
        "BatchExecuteStatement not waited for",
        "P peer: Pipes (INSERT per event)",
        Kind.PIPES,
        instances=10,
        batch_size=10,
        messages=messages,
        run_seconds=OLD_WINDOW_SECONDS,
        settings_alone=_CHURNING,
    )


def quick_designs() -> list[Design]:
    """This project's designs only (the old ones break the invariants by design), small N,
    all at once under BASE: for the invariants, never for speed."""
    return [
        Design(
            TODAY,
            "this project: batch size 200, one INSERT per transaction, MaximumConcurrency 3",
            "5 this: 1 INSERT/transaction",
            Kind.FUNCTION,
            instances=3,
            batch_size=200,
            batching_window=0.2,
            messages=600,
            run_seconds=120.0,
            statements_per_transaction=1,
            function_timeout=TODAYS_TIMEOUT_SECONDS,
        ),
        Design(
            NEW,
            "this project: batch size 200, default transactions, MaximumConcurrency 4",
            "6 this: default transactions",
            Kind.FUNCTION,
            instances=4,
            batch_size=200,
            batching_window=0.2,
            messages=1_200,
            run_seconds=120.0,
        ),
        Design(
            "6b",
            "this project: batch size 200, two targets, MaximumConcurrency 3",
            "6b this: two targets",
            Kind.FUNCTION,
            instances=3,
            batch_size=200,
            batching_window=0.2,
            messages=1_000,
            run_seconds=120.0,
            targets=2,
        ),
        Design(
            "6f",
            "this project: batch size 200, faults injected, MaximumConcurrency 4",
            "6f this: faults",
            Kind.FUNCTION,
            instances=4,
            batch_size=200,
            batching_window=0.2,
            messages=1_000,
            run_seconds=120.0,
            faults=True,
        ),
        # The Firehose-like peer, small and quick (a 1 s interval), with a COPY reported FAILED
        # after it committed: its retry duplicates a flush, which must be counted, never lost.
        replace(
            firehose_design(messages=600, interval=1.0),
            key="Ff",
            title="peer: Firehose, 1 s interval, a COPY reported FAILED after its commit",
            batch_size=100,
            batching_window=0.2,
            instances=2,
            buffer_bytes=1024 * 1024,
            faults=True,
            run_seconds=120.0,
        ),
        # The Pipes-like peer, under the quota: every event lands once.
        replace(pipes_design(messages=120), instances=2, run_seconds=60.0),
    ]
