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
    # targets, injected faults) under the base setting, each against clusters of its own
    # When their backlogs are driven through simulated function instances, all at once
    results = run_quick(local_data_api)

    # Then every design ran, and none went above its bound, hit the quota, lost or doubled a row
    assert [r.design.key for r in results] == ["5", "6", "6b", "6f"]
    assert [v for r in results for v in violations(r)] == []
    assert all(r.rows_landed == r.sent for r in results)
    # and the emulator recorded every row each first target committed
    assert all(r.commits.rows == r.sent for r in results)


def test_the_packing_report_renders_every_row_once_within_each_budget() -> None:
    # The request budget's cost in rows per commit (docs/benchmark.md): its invariants only
    results = measure((680,))
    assert {p.budget for p in results} >= {None, 1_048_576}
    for packing in results:
        assert packing.rows_per_commit * packing.commits == pytest.approx(680)
        if packing.budget is not None:
            assert packing.largest_request <= packing.budget
    assert "rows/commit" in report(results)
