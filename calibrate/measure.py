"""Writers ramped 1, 2, 4, 8... per transaction shape: latency, commits/s, and the fitted costs.

Each writer submits one transaction, waits for its end, and submits the next, like one
invocation of the function writing one target. With one writer the rate is 1 / latency; once
the serialized commit queue is the limit, more writers add waiting, not commits. The top rate a
shape reaches is then 1 / (its commit cost), and commit cost = fixed + per KB is fitted over the
shapes' sizes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from calibrate.dataapi import Budget, DataApi, Stopped
from calibrate.fit import Line, fit_line
from calibrate.recommend import ClusterProfile
from calibrate.workload import ROW_BYTES, Shape, build_transaction

# A level whose rate grew less than this over the best lower level: the commit queue is full.
SATURATION_GAIN = 1.10
# A level whose writers commit less than this share of what they would without waiting (each
# at the one-writer rate) spends over a quarter of its time queueing: the queue is the limit,
# without a level above it to show that the rate stopped growing.
QUEUEING_SHARE = 0.75


@dataclass(frozen=True)
class Plan:
    max_concurrency: int = 32
    level_seconds: float = 10.0
    batch_statements: int = 4  # INSERTs per BatchExecuteStatement transaction
    row_bytes: int = ROW_BYTES

    def levels(self) -> tuple[int, ...]:
        """1, 2, 4, ... up to and including max_concurrency."""
        levels = [1]
        while levels[-1] * 2 < self.max_concurrency:
            levels.append(levels[-1] * 2)
        if self.max_concurrency > 1:
            levels.append(self.max_concurrency)
        return tuple(levels)

    def shapes(self) -> tuple[Shape, ...]:
        return (
            Shape("1 row", rows_per_statement=1),
            Shape("100 KB", rows_per_statement=None),
            Shape(f"{self.batch_statements} x 100 KB", None, statements=self.batch_statements),
        )


@dataclass(frozen=True)
class Sample:
    """One transaction a writer ran: when the service created and finished it, and its size."""

    created: float
    finished: float
    rows: int
    kb: float

    @property
    def latency(self) -> float:
        return self.finished - self.created


@dataclass(frozen=True)
class LevelResult:
    writers: int
    transactions: int
    rows: int
    kb: float
    commits_per_second: float
    mean_latency: float
    complete: bool  # False: the budget ran out during this level

    @property
    def rows_per_second(self) -> float:
        return self.commits_per_second * self.rows / self.transactions if self.transactions else 0


def level_result(writers: int, runs: Sequence[Sequence[Sample]], complete: bool) -> LevelResult:
    """Commits per second while every writer was in its steady cycle.

    The window opens when the last writer's first transaction ended (each first one waited out
    the start, every writer having submitted at once) and closes when the first writer's last one
    ended (after that, fewer writers remain). Commits ending inside it, over its length, is the
    rate both for writers bound by latency and for writers queueing for the commit.
    """
    samples = [sample for run in runs for sample in run]
    rate = 0.0
    if samples:
        opens = max(run[0].finished for run in runs if run)
        closes = min(run[-1].finished for run in runs if run)
        inside = sum(1 for s in samples if opens < s.finished <= closes)
        if closes > opens and inside:
            rate = inside / (closes - opens)
        else:  # one transaction per writer: no steady cycle to see, the whole span instead
            span = max(s.finished for s in samples) - min(s.created for s in samples)
            rate = len(samples) / span if span > 0 else 0.0
    return LevelResult(
        writers=writers,
        transactions=len(samples),
        rows=sum(s.rows for s in samples),
        kb=sum(s.kb for s in samples),
        commits_per_second=rate,
        mean_latency=sum(s.latency for s in samples) / len(samples) if samples else 0.0,
        complete=complete,
    )


@dataclass(frozen=True)
class ShapeResult:
    shape: Shape
    levels: tuple[LevelResult, ...]
    saturated: bool  # the last level reached the limit (see `saturated`)

    @property
    def transaction_kb(self) -> float:
        transactions = sum(level.transactions for level in self.levels)
        return sum(level.kb for level in self.levels) / transactions if transactions else 0.0

    @property
    def rows_per_transaction(self) -> float:
        transactions = sum(level.transactions for level in self.levels)
        return sum(level.rows for level in self.levels) / transactions if transactions else 0.0

    @property
    def latency(self) -> float:
        """Mean submit-to-FINISHED with one writer (an otherwise idle table)."""
        return self.levels[0].mean_latency

    @property
    def top_commits_per_second(self) -> float:
        return max(level.commits_per_second for level in self.levels)

    @property
    def commit_seconds(self) -> float:
        """Commit cost: exact when saturated, an upper bound otherwise."""
        return 1.0 / self.top_commits_per_second


@dataclass(frozen=True)
class Measurements:
    shapes: tuple[ShapeResult, ...]
    commit: Line  # seconds = intercept + slope x KB
    latency: Line  # seconds = intercept + slope x KB, one writer
    saturated: bool  # every shape reached the commit queue's limit

    def profile(self) -> ClusterProfile | None:
        if self.commit.intercept <= 0 and self.commit.slope <= 0:
            return None
        return ClusterProfile(
            commit_fixed_seconds=self.commit.intercept,
            commit_seconds_per_kb=self.commit.slope,
            latency_seconds=self.latency.intercept,
            latency_seconds_per_kb=self.latency.slope,
        )


def is_saturated(levels: Sequence[LevelResult]) -> bool:
    """Whether the last level reached the commit queue's limit: its rate grew less than
    SATURATION_GAIN over every level below it, or its writers queue (QUEUEING_SHARE)."""
    if len(levels) < 2:
        return False
    *lower, last = levels
    best = max(level.commits_per_second for level in lower)
    unqueued = last.writers * levels[0].commits_per_second / levels[0].writers
    rate = last.commits_per_second
    return rate < SATURATION_GAIN * best or rate < QUEUEING_SHARE * unqueued


def analyse(shapes: Sequence[ShapeResult]) -> Measurements | None:
    """The fitted costs over the shapes measured; None if nothing was measured."""
    measured = [s for s in shapes if s.levels and s.top_commits_per_second > 0]
    if not measured:
        return None
    commit = fit_line([(s.transaction_kb, s.commit_seconds) for s in measured])
    latency = fit_line([(s.transaction_kb, s.latency) for s in measured])
    return Measurements(tuple(measured), commit, latency, all(s.saturated for s in measured))


def run_level(
    api: DataApi,
    *,
    table: str,
    shape: Shape,
    writers: int,
    plan: Plan,
    budget: Budget,
    abort: threading.Event,
) -> LevelResult:
    """`writers` threads, each submit-and-wait for plan.level_seconds (two transactions at
    least, so that each has a steady cycle), within the budget."""
    end = time.monotonic() + plan.level_seconds
    spent = threading.Event()

    def writer() -> list[Sample]:
        samples: list[Sample] = []
        while (len(samples) < 2 or time.monotonic() < end) and not abort.is_set():
            transaction = build_transaction(table, shape, row_bytes=plan.row_bytes)
            if not budget.take():
                spent.set()
                break
            ran = api.run(transaction.sqls, transaction.data_api_parameters(), writers=writers)
            samples.append(Sample(ran.created, ran.finished, transaction.rows, transaction.kb))
        return samples

    with ThreadPoolExecutor(writers, thread_name_prefix="calibrate-writer") as pool:
        futures = [pool.submit(writer) for _ in range(writers)]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C lands here, in the main thread
            abort.set()  # every writer cancels its statement and stops
            raise
        if any(f.exception() is not None for f in done):
            abort.set()
    errors = [f.exception() for f in futures]
    # The error that stopped the level, not the Stopped it caused in the other writers.
    first = next((e for e in errors if e and not isinstance(e, Stopped)), None)
    first = first or next((e for e in errors if e), None)
    if first is not None:
        raise first
    runs = [f.result() for f in futures]
    return level_result(writers, runs, complete=not spent.is_set())


def measure(
    api: DataApi,
    *,
    table: str,
    plan: Plan,
    budget: Budget,
    abort: threading.Event,
    progress: Callable[[Shape, LevelResult], None],
) -> Iterator[ShapeResult]:
    """Every shape's ramp, each stopping once saturated, all stopping when the budget is spent.

    A generator that yields a shape's result again after each of its levels (the latest one
    counts), so that an error or Ctrl-C loses no level that had ended.
    """
    for shape in plan.shapes():
        levels: list[LevelResult] = []
        for writers in plan.levels():
            level = run_level(
                api,
                table=table,
                shape=shape,
                writers=writers,
                plan=plan,
                budget=budget,
                abort=abort,
            )
            if not level.transactions:
                break
            progress(shape, level)
            levels.append(level)
            saturated = is_saturated(levels)
            yield ShapeResult(shape, tuple(levels), saturated)
            if saturated or not level.complete:
                break
        if budget.spent:
            return


def latest_by_shape(results: Iterable[ShapeResult]) -> list[ShapeResult]:
    """The last result yielded for each shape, in the order the shapes were measured."""
    latest: dict[str, ShapeResult] = {}
    for result in results:
        latest[result.shape.label] = result
    return list(latest.values())
