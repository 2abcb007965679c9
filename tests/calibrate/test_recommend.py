"""calibrate.recommend: a cluster's costs -> the template's settings, as a table of cases and
the rules each recommendation must keep."""

from __future__ import annotations

import math

import pytest

from calibrate.recommend import (
    BATCHING_WINDOWS,
    CONCURRENCY_LADDER,
    FUNCTION_TIMEOUTS,
    MAX_WINDOW_SECONDS,
    MIN_TIMEOUT_SECONDS,
    QUOTA_SHARE,
    ClusterProfile,
    Recommendation,
    Workload,
    model_profile,
    recommend,
)
from tests.template.cfn import load_template

# The named model settings (1.5 s latency, 1/12 s fixed commit, 0.5 / 0 / 2 ms per KB).
BASE = model_profile(1.5, 1 / 12, 0.0005)
LOW = model_profile(1.5, 1 / 12, 0.0)
HIGH = model_profile(1.5, 1 / 12, 0.002)

PROFILES = {
    "base": BASE,
    "low": LOW,
    "high": HIGH,
    "slow commits": ClusterProfile(0.5, 0.001, 3.0),
    "fast cluster": ClusterProfile(0.01, 0.00005, 0.3),
    "latency grows with size": ClusterProfile(0.05, 0.0002, 1.0, latency_seconds_per_kb=0.002),
    "all per KB": ClusterProfile(0.0, 0.001, 1.0),
}


def test_the_template_ladders_are_the_templates() -> None:
    parameters = load_template()["Parameters"]
    assert tuple(parameters["BatchingWindowSeconds"]["AllowedValues"]) == BATCHING_WINDOWS
    assert tuple(parameters["MaximumConcurrency"]["AllowedValues"]) == CONCURRENCY_LADDER
    assert tuple(parameters["FunctionTimeoutSeconds"]["AllowedValues"]) == FUNCTION_TIMEOUTS


@pytest.mark.parametrize(
    ("profile", "batch", "window", "concurrency", "timeout", "per_transaction", "rows_per_s"),
    [
        # 12 INSERTs per commit reach 96% of the 19 a 6 MB payload allows (1,048 rows/s); the
        # 684 rows they hold round down to 680: 1,193 KB, 0.680 s a commit, 1.47/s; latency
        # 1.5 + 0.680 = 2.18 s; 1.47 x 2.18 = 3.2 in flight, x1.5 = 4.8 -> 5;
        # 2.18 + 4 x 0.68 = 4.9 s, x4 = 20 -> 60; fill 680 / 500 = 1.4 s -> 2.
        (BASE, 680, 2, 5, 60, 24, 1000.3),
        # No per-KB cost: the largest batch (19 x 57 = 1,083 -> 1,080 rows) at 12 commits/s;
        # 12 x 1.58 s = 19 in flight, x1.5 = 28.5 -> 30.
        (LOW, 1080, 1, 30, 60, 38, 12960.0),
        # 2 ms/KB: 6 INSERTs (342 -> 340 rows, 596 KB) reach 96% of 279 rows/s; 1.28 s a commit,
        # 0.78/s x 340 rows; 0.78 x 2.78 s = 2.2 in flight, x1.5 = 3.3 -> 4.
        (HIGH, 340, 5, 4, 60, 12, 266.4),
    ],
)
def test_the_named_settings(
    profile: ClusterProfile,
    batch: int,
    window: int,
    concurrency: int,
    timeout: int,
    per_transaction: int,
    rows_per_s: float,
) -> None:
    rec = recommend(profile)
    assert rec.template_parameters() == {
        "BatchSize": batch,
        "BatchingWindowSeconds": window,
        "MaximumConcurrency": concurrency,
        "FunctionTimeoutSeconds": timeout,
        "StatementsPerTransaction": per_transaction,
    }
    assert rec.expected_rows_per_second == pytest.approx(rows_per_s, abs=0.1)


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
@pytest.mark.parametrize(
    "workload",
    [
        Workload(),
        Workload(rows_per_statement=120, record_bytes=2_000),
        Workload(targets_per_cluster=2, active_quota=200),
        Workload(rows_per_statement=10, record_bytes=20_000),
    ],
    ids=["appsflyer", "lean rows", "two targets, quota 200", "fat rows"],
)
def test_every_recommendation_keeps_the_rules(profile: ClusterProfile, workload: Workload) -> None:
    rec = recommend(profile, workload)
    # Values the template accepts
    assert rec.batching_window_seconds in BATCHING_WINDOWS
    assert rec.maximum_concurrency in CONCURRENCY_LADDER
    assert rec.function_timeout_seconds in FUNCTION_TIMEOUTS
    assert 1 <= rec.statements_per_transaction <= 40
    assert 1 <= rec.batch_size <= min(10_000, workload.payload_bytes // workload.record_bytes)
    # A batch's INSERTs fit one transaction
    assert rec.statements_per_transaction >= math.ceil(rec.batch_size / workload.rows_per_statement)
    # The quota: this stack's statements on the cluster stay within its share
    share = workload.active_quota * QUOTA_SHARE
    assert rec.maximum_concurrency * workload.targets_per_cluster <= share
    # Enough in flight to keep the commit queue busy, unless the quota share capped it
    kb = rec.transaction_kb
    needed = profile.latency(kb) / profile.commit_seconds(kb)
    capped = any("capped" in warning for warning in rec.warnings)
    assert capped or rec.maximum_concurrency >= needed
    # Throughput is what the commits carry, never above the commit queue's rate
    assert rec.commits_per_second <= 1 / profile.commit_seconds(kb) + 1e-9
    assert rec.expected_rows_per_second == pytest.approx(rec.commits_per_second * rec.batch_size)
    if rec.ceiling_rows_per_second is not None:
        assert rec.expected_rows_per_second <= rec.ceiling_rows_per_second * (1 + 1e-9)
    # The timeout covers an invocation that waits behind every other one's commit, with room
    invocation = profile.latency(kb) + (rec.maximum_concurrency - 1) * profile.commit_seconds(kb)
    assert rec.function_timeout_seconds >= min(FUNCTION_TIMEOUTS[-1], 4 * invocation)
    assert rec.function_timeout_seconds >= MIN_TIMEOUT_SECONDS
    assert rec.batching_window_seconds <= MAX_WINDOW_SECONDS
    assert 3 <= len(rec.reasoning) <= 6


def test_a_models_idle_latency_includes_its_commit() -> None:
    profile = model_profile(1.5, 0.1, 0.002)
    assert profile.commit_seconds(500) == pytest.approx(1.1)
    assert profile.latency(0) == pytest.approx(1.6)
    assert profile.latency(500) == pytest.approx(1.5 + 1.1)


def test_a_costlier_kb_never_asks_for_bigger_batches() -> None:
    sizes = [
        recommend(ClusterProfile(1 / 12, per_kb / 1000, 1.5)).batch_size
        for per_kb in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    ]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[-1]


def test_without_a_per_kb_cost_the_batch_is_within_5_percent_of_the_largest() -> None:
    rec = recommend(LOW, Workload(rows_per_statement=50, record_bytes=3_000))
    # 6,000,000 / 3,000 = 2,000 records = 40 INSERTs of 50 rows (the transaction limit); rows/s
    # grow with the batch, and 38 INSERTs are the fewest within 95% of 40's.
    assert rec.batch_size == 1900
    assert rec.statements_per_transaction == 40
    assert rec.ceiling_rows_per_second is None


def test_a_long_latency_is_capped_by_the_quota_share_and_says_so() -> None:
    # Given commits of 10 ms and statements that take 30 s: 3,000 in flight would be needed
    rec = recommend(ClusterProfile(0.01, 0.0, 30.0), Workload(active_quota=200))
    assert rec.maximum_concurrency == 40  # 20% of 200
    assert any("capped at 40" in warning for warning in rec.warnings)
    # Then throughput is what 40 invocations of 30 s each carry
    assert rec.commits_per_second == pytest.approx(40 / 30.0)


def test_an_invocation_too_long_for_any_timeout_is_flagged() -> None:
    rec = recommend(ClusterProfile(5.0, 0.0, 300.0))
    assert rec.function_timeout_seconds == FUNCTION_TIMEOUTS[-1]
    assert any("lower BatchSize" in warning for warning in rec.warnings)


def test_a_busy_account_is_warned_about_the_batch_execute_rate() -> None:
    rec = recommend(ClusterProfile(0.02, 0.0, 0.5), Workload(targets_per_cluster=2))
    assert any("BatchExecuteStatement calls/s" in warning for warning in rec.warnings)
    assert not any("BatchExecuteStatement" in w for w in recommend(BASE).warnings)


def test_the_reasoning_names_the_figures_it_used() -> None:
    rec: Recommendation = recommend(BASE)
    text = "\n".join(rec.reasoning)
    assert "BatchSize 680" in text
    assert "MaximumConcurrency 5: 1.47 commits/s x 2.18 s latency = 3.2" in text
    assert "FunctionTimeoutSeconds 60" in text
    assert "BatchingWindowSeconds 2" in text
    assert "StatementsPerTransaction 24" in text


@pytest.mark.parametrize(
    "arguments",
    [(-0.1, 0.0, 1.0), (0.1, -0.001, 1.0), (0.1, 0.0, -1.0), (0.0, 0.0, 1.0)],
)
def test_impossible_profiles_are_refused(arguments: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match=r"cost|negative"):
        ClusterProfile(*arguments)


@pytest.mark.parametrize(
    "fields",
    [
        {"rows_per_statement": 0.5},
        {"record_bytes": 7_000_000},
        {"targets_per_cluster": 0},
        {"active_quota": 1},
    ],
)
def test_impossible_workloads_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Workload(**fields)  # type: ignore[arg-type]
