"""The quick benchmark's invariants, in process, on the session's local Data API (never speed)."""

from __future__ import annotations

import pytest

from bench.invariants import violations
from bench.packing import measure, report
from bench.suite import run_quick
from local.stack import LocalDataApi

pytestmark = pytest.mark.integration


def test_quick_benchmark_keeps_every_invariant(local_data_api: LocalDataApi) -> None:
    # Given this project's designs (one INSERT per transaction, the default transactions, two
    # targets, injected faults) and the two peers (Firehose with a COPY that committed but was
    # reported FAILED; Pipes under the quota) under the base setting, each on clusters of its own
    # When their backlogs are driven through simulated instances, all at once
    results = {r.design.key: r for r in run_quick(local_data_api)}

    # Then every design ran, and none went above its bound, hit the quota, lost or doubled a row
    assert list(results) == ["5", "6", "6b", "6f", "Ff", "P"]
    assert [v for r in results.values() for v in violations(r)] == []
    ours = [results[key] for key in ("5", "6", "6b", "6f")]
    assert all(r.rows_landed == r.sent for r in ours)
    # and the emulator recorded every row each first target committed
    assert all(r.commits.rows == r.sent for r in ours)
    # and each message's commit was found for the freshness, none later than the window
    assert all(r.freshness.committed == r.sent for r in ours)

    # Then the Firehose peer retried the COPY reported FAILED: nothing lost, the flush it
    # re-sent counted as duplicates, one row per duplicate beyond each message's first
    firehose = results["Ff"]
    assert firehose.stream is not None
    assert firehose.stream.retries >= 1
    assert firehose.lost == 0
    assert firehose.left_in_queue == 0
    assert firehose.duplicated > 0
    assert firehose.rows_landed == firehose.sent + firehose.duplicated
    assert firehose.stream.records == firehose.sent
    # and the Pipes peer landed every event once (its submits were all accepted)
    pipes = results["P"]
    assert (pipes.lost, pipes.duplicated, pipes.rows_landed) == (0, 0, pipes.sent)


def test_the_packing_report_renders_every_row_once_within_each_budget() -> None:
    # The request budget's cost in rows per commit (docs/benchmark.md): its invariants only
    results = measure((680,))
    assert {p.budget for p in results} >= {None, 1_048_576}
    for packing in results:
        assert packing.rows_per_commit * packing.commits == pytest.approx(680)
        if packing.budget is not None:
            assert packing.largest_request <= packing.budget
    assert "rows/commit" in report(results)
