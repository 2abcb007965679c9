"""A cluster's commit cost and latency -> the template's throughput settings, with the reasoning.

Pure: the same function turns `make calibrate`'s measurements of a real cluster, or a cluster
model's named parameters, into `BatchSize`, `BatchingWindowSeconds`, `MaximumConcurrency`,
`FunctionTimeoutSeconds` and `StatementsPerTransaction` (the function's STATEMENTS_PER_TRANSACTION).

The physics (docs/capacity.md): commits are serialized per table, so a target's throughput is
(transactions committed per second) x (rows per transaction), and a transaction of S KB holds the
commit queue for `fixed + per_kb x S` seconds. Bigger transactions carry more rows per commit;
a per-KB cost bends that gain into a ceiling of `rows per KB / per_kb` rows/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KB = 1000  # bytes: STATEMENT_MAX_BYTES counts 100,000 bytes as "100 KB"

# The template's allowed values (tests/calibrate checks them against template.yaml).
BATCHING_WINDOWS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300)
CONCURRENCY_LADDER = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150,
                      200, 250, 300, 400, 500)  # fmt: skip
FUNCTION_TIMEOUTS = (30, 60, 90, 120, 180, 240, 300, 450, 600, 900)

MAX_BATCH_SIZE = 10_000  # SQS event sources: BatchSize up to 10,000 on standard queues
MAX_STATEMENTS_PER_TRANSACTION = 40  # BatchExecuteStatement takes at most 40 SQL strings
# The smallest transaction whose rows/s is within this share of the largest one's: past it a
# bigger transaction adds latency, timeout and rollback size for little throughput.
GOOD_ENOUGH = 0.95
# In-flight statements over the bare minimum (commit rate x latency): invocations spend time
# outside their statement (receive, parse, settle, delete) and latency varies.
CONCURRENCY_MARGIN = 1.5
# At most this share of the active-statement quota, for all of this stack's targets on one
# cluster: the quota is shared with every other client of the cluster (docs/capacity.md).
QUOTA_SHARE = 0.2
# The timeout covers this many times an invocation's expected time: in-invocation retries,
# batches whose rows pack worse, a cluster slower than when it was measured.
TIMEOUT_FACTOR = 4.0
# Never below a minute: a cold start also reads the table's columns (one more statement), and
# DEADLINE_MARGIN_SECONDS comes off the top.
MIN_TIMEOUT_SECONDS = 60
MAX_WINDOW_SECONDS = 30  # past this the window only delays records at low traffic
# Reported account-level rates (docs/capacity.md): BatchExecuteStatement about 20/s.
BATCH_EXECUTE_PER_SECOND = 20.0


@dataclass(frozen=True)
class ClusterProfile:
    """What one target costs per transaction: measured by `make calibrate`, or a model's."""

    commit_fixed_seconds: float  # the serialized part of every commit
    commit_seconds_per_kb: float  # the serialized part that grows with the KB written
    # Submit to FINISHED of a small transaction on an idle cluster, its own commit included
    # (what calibrate measures with one writer), and what each KB adds to it.
    latency_seconds: float
    latency_seconds_per_kb: float = 0.0

    def __post_init__(self) -> None:
        costs = (self.commit_fixed_seconds, self.commit_seconds_per_kb)
        if min(*costs, self.latency_seconds, self.latency_seconds_per_kb) < 0:
            raise ValueError("costs and latencies must not be negative")
        if max(costs) <= 0:
            raise ValueError("a commit must cost something: a fixed part, a part per KB or both")

    def commit_seconds(self, kb: float) -> float:
        return self.commit_fixed_seconds + self.commit_seconds_per_kb * kb

    def latency(self, kb: float) -> float:
        """Submit to FINISHED on an idle cluster; never shorter than the commit it includes."""
        return max(self.latency_seconds + self.latency_seconds_per_kb * kb, self.commit_seconds(kb))


@dataclass(frozen=True)
class Workload:
    """What the function sends: its rows, statements and batches (defaults: AppsFlyer events)."""

    # Rows in one full INSERT of the function (STATEMENT_MAX_BYTES): 57 assumed
    # (docs/capacity.md); the benchmark's AppsFlyer bodies pack 62.
    rows_per_statement: float = 57.0
    statement_kb: float = 100.0  # STATEMENT_MAX_BYTES / KB
    # One SQS record in the invocation payload, envelope included (docs/capacity.md: ~5.3 KB).
    record_bytes: int = 5_300
    payload_bytes: int = 6_000_000  # Lambda's 6 MB invocation payload, rounded down
    targets_per_cluster: int = 1  # this stack's targets on the measured cluster or workgroup
    active_quota: int = 500  # the template's ActiveStatementQuota (500 or 200)

    def __post_init__(self) -> None:
        if self.rows_per_statement < 1 or self.statement_kb <= 0:
            raise ValueError("rows_per_statement must be >= 1 and statement_kb positive")
        if self.record_bytes < 1 or self.payload_bytes < self.record_bytes:
            raise ValueError("a payload must hold at least one record")
        if self.targets_per_cluster < 1 or self.active_quota < 2:
            raise ValueError("targets_per_cluster must be >= 1 and active_quota >= 2")


@dataclass(frozen=True)
class Recommendation:
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int
    function_timeout_seconds: int
    statements_per_transaction: int
    transaction_kb: float  # a full batch's transaction
    commits_per_second: float  # of such transactions, with the commit queue kept busy
    expected_rows_per_second: float  # per target
    ceiling_rows_per_second: float | None  # at any transaction size; None: no per-KB cost
    reasoning: tuple[str, ...]  # 3-6 lines
    warnings: tuple[str, ...]  # where a limit, not the cluster, decided

    def template_parameters(self) -> dict[str, int]:
        """template.yaml's parameter names (StatementsPerTransaction sets the function's
        STATEMENTS_PER_TRANSACTION)."""
        return {
            "BatchSize": self.batch_size,
            "BatchingWindowSeconds": self.batching_window_seconds,
            "MaximumConcurrency": self.maximum_concurrency,
            "FunctionTimeoutSeconds": self.function_timeout_seconds,
            "StatementsPerTransaction": self.statements_per_transaction,
        }


def model_profile(
    latency_seconds: float, commit_fixed_seconds: float, commit_seconds_per_kb: float
) -> ClusterProfile:
    """A cluster model's settings (local/model.py: a latency paid before the statement runs,
    then its serialized commit) as the profile calibrate would measure on it: the idle latency
    includes the commit."""
    return ClusterProfile(
        commit_fixed_seconds=commit_fixed_seconds,
        commit_seconds_per_kb=commit_seconds_per_kb,
        latency_seconds=latency_seconds + commit_fixed_seconds,
        latency_seconds_per_kb=commit_seconds_per_kb,
    )


def _up(value: float, allowed: tuple[int, ...]) -> int:
    """The smallest allowed value >= value (the largest if none is)."""
    return next((a for a in allowed if a >= value), allowed[-1])


def _down(value: float, allowed: tuple[int, ...]) -> int:
    """The largest allowed value <= value (the smallest if none is)."""
    return next((a for a in reversed(allowed) if a <= value), allowed[0])


def recommend(profile: ClusterProfile, workload: Workload | None = None) -> Recommendation:
    """Settings that keep one target's commit queue busy with transactions of a useful size."""
    work = workload or Workload()
    rows, statement_kb = work.rows_per_statement, work.statement_kb
    warnings: list[str] = []

    # Transaction size: one batch per transaction per target, so the batch's rows are the
    # transaction's. The payload caps a batch; the curve says how much of that is worth it.
    payload_rows = min(MAX_BATCH_SIZE, work.payload_bytes // work.record_bytes)
    most = max(1, min(MAX_STATEMENTS_PER_TRANSACTION, math.floor(payload_rows / rows)))

    def rows_per_second(statements: int) -> float:
        return statements * rows / profile.commit_seconds(statements * statement_kb)

    best = rows_per_second(most)
    statements = next(k for k in range(1, most + 1) if rows_per_second(k) >= GOOD_ENOUGH * best)
    batch_size = min(payload_rows, math.floor(statements * rows))
    if batch_size >= 20:
        batch_size -= batch_size % 10  # a round figure, still no more than the statements hold
    statements_per_transaction = min(MAX_STATEMENTS_PER_TRANSACTION, 2 * statements)
    transaction_kb = batch_size / rows * statement_kb
    commit = profile.commit_seconds(transaction_kb)
    latency = profile.latency(transaction_kb)
    commits_per_second = 1.0 / commit
    per_kb = profile.commit_seconds_per_kb
    ceiling = rows / statement_kb / per_kb if per_kb > 0 else None

    # Concurrency: Little's law. The commit queue stays busy while commit rate x latency
    # transactions are in flight; each invocation has at most one per target.
    in_flight = commits_per_second * latency
    concurrency = _up(max(2.0, math.ceil(CONCURRENCY_MARGIN * in_flight)), CONCURRENCY_LADDER)
    cap = _down(work.active_quota * QUOTA_SHARE / work.targets_per_cluster, CONCURRENCY_LADDER)
    if concurrency > cap:
        warnings.append(
            f"MaximumConcurrency capped at {cap} ({QUOTA_SHARE:.0%} of the {work.active_quota} "
            f"active-statement quota over {work.targets_per_cluster} target(s)): latency, not "
            "the commit queue, bounds throughput"
        )
        concurrency = cap
    commits = min(commits_per_second, concurrency / latency)
    expected = commits * batch_size

    # Timeout: an invocation's transaction waits behind every other invocation's commit.
    invocation = latency + (concurrency - 1) * commit
    timeout = _up(max(MIN_TIMEOUT_SECONDS, TIMEOUT_FACTOR * invocation), FUNCTION_TIMEOUTS)
    if TIMEOUT_FACTOR * invocation > FUNCTION_TIMEOUTS[-1]:
        warnings.append(
            f"an invocation may take {invocation:.0f} s, more than the longest timeout allows "
            "with headroom: lower BatchSize or MaximumConcurrency"
        )
    # Window: at half the expected rate a full batch still fills before the window closes.
    fill = batch_size / (expected / 2)
    window = _up(min(MAX_WINDOW_SECONDS, max(1.0, fill)), BATCHING_WINDOWS)

    calls = commits * work.targets_per_cluster
    if calls > BATCH_EXECUTE_PER_SECOND / 2:
        warnings.append(
            f"about {calls:.0f} BatchExecuteStatement calls/s from this stack on this cluster, "
            f"over half the ~{BATCH_EXECUTE_PER_SECOND:.0f}/s reported per account and region"
        )

    ceiling_text = f"; ceiling at any size {ceiling:.0f} rows/s" if ceiling else ""
    reasoning = (
        f"Commit cost {profile.commit_fixed_seconds * 1000:.0f} ms + "
        f"{per_kb * 1000:.2f} ms/KB: {statements} full INSERT(s) per transaction reach "
        f"{rows_per_second(statements) / best:.0%} of the {best:.0f} rows/s of the largest batch "
        f"a 6 MB payload allows ({most} INSERTs){ceiling_text}.",
        f"BatchSize {batch_size}: one transaction of {batch_size / rows:.1f} INSERTs of "
        f"{rows:g} rows ({transaction_kb:.0f} KB) per batch per target; "
        f"StatementsPerTransaction {statements_per_transaction} leaves room for rows that "
        "pack worse.",
        f"MaximumConcurrency {concurrency}: {commits_per_second:.2f} commits/s x "
        f"{latency:.2f} s latency = {in_flight:.1f} transactions in flight keep the serialized "
        f"commit queue busy; x{CONCURRENCY_MARGIN:g} margin, "
        f"{concurrency * work.targets_per_cluster} active statements of the quota's "
        f"{work.active_quota}.",
        f"FunctionTimeoutSeconds {timeout}: an invocation takes about {latency:.1f} s + "
        f"{concurrency - 1} queued commits x {commit:.2f} s = {invocation:.1f} s; "
        f"x{TIMEOUT_FACTOR:g} for retries and slower batches.",
        f"BatchingWindowSeconds {window}: at half the expected {expected:.0f} rows/s a batch of "
        f"{batch_size} fills in {fill:.1f} s; at low traffic the window is the delay added.",
    )
    return Recommendation(
        batch_size=batch_size,
        batching_window_seconds=window,
        maximum_concurrency=concurrency,
        function_timeout_seconds=timeout,
        statements_per_transaction=statements_per_transaction,
        transaction_kb=transaction_kb,
        commits_per_second=commits,
        expected_rows_per_second=expected,
        ceiling_rows_per_second=ceiling,
        reasoning=reasoning,
        warnings=tuple(warnings),
    )
