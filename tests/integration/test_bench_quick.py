"""The quick benchmark's invariants, in process, on the session's local Data API (never speed)."""

from __future__ import annotations

import pytest

from bench.invariants import violations
from bench.suite import run_quick
from local.stack import LocalDataApi

pytestmark = pytest.mark.integration


def test_quick_benchmark_keeps_every_invariant(local_data_api: LocalDataApi) -> None:
    # Given this project's designs (batch 10, large batches, two targets, injected faults)
    # on a slot- and rate-limited cluster model, each against clusters of its own
    # When the backlog is driven through simulated function instances
    results = run_quick(local_data_api)

    # Then every design ran, and none went above its bound, hit the quota, lost or doubled a row
    assert [r.design.key for r in results] == ["4", "5", "5b", "5f"]
    assert [v for r in results for v in violations(r)] == []
    assert all(r.rows_landed == r.sent for r in results)
