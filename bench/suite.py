"""Runs the designs on one local stack: moto, the instance processes, the settings side by side."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bench.aws import AwsResources, instance_environment
from bench.bodies import make_bodies
from bench.designs import QUICK_SETTINGS, Design, Setting, quick_designs
from bench.instances import InstancePool
from bench.runner import Bench, DesignResult, Run, run_group
from local.aws_doubles import moto_server
from local.stack import LocalDataApi


def _summary(result: DesignResult) -> str:
    return (
        f"design {result.design.key} under {result.setting.name}: "
        f"{result.sustained_rows_per_second:,.0f} rows/s, "
        f"{result.commits.rows_per_commit:,.1f} rows per commit, "
        f"{result.share_of_ceiling:.0%} of the ceiling, "
        f"{sum(result.api_calls.values())} Data API calls, "
        f"peak {max(result.peak_active)} active, {result.quota_errors} refused, "
        f"{result.lost} lost, {result.duplicated} duplicated"
    )


def _label(run: Run) -> str:
    return f"design {run.design.key} ({run.design.title}) under {run.setting.name}"


def run_suite(
    api: LocalDataApi,
    groups: Sequence[Sequence[Run]],
    bodies: list[str],
    progress: Callable[[str], None] = lambda _line: None,
) -> list[DesignResult]:
    """Each group's runs at the same time, one group after another."""
    results: list[DesignResult] = []
    with moto_server() as moto_url:
        environment = instance_environment(api.endpoint_url, moto_url)
        size = max(sum(run.design.instances for run in group) for group in groups)
        with InstancePool(size, environment) as pool:
            bench = Bench(api, AwsResources(moto_url), pool)
            for group in groups:
                progress("running at once: " + "; ".join(_label(run) for run in group) + " ...")
                started = time.monotonic()
                group_results = run_group(bench, group, bodies)
                progress(f"(the group took {time.monotonic() - started:.0f} s)")
                for result in group_results:
                    progress(_summary(result))
                    results.append(result)
                # The finished group's clusters keep their PostgreSQL connections pooled (up to
                # 64 each after a drain): give them back, or later groups meet max_connections.
                api.service.databases.close()
    return results


def side_by_side(designs: Sequence[Design], settings: Sequence[Setting]) -> list[list[Run]]:
    """Per design, its settings at the same time, each on a cluster of its own; then each of
    its `settings_alone` in a group of its own."""
    groups: list[list[Run]] = []
    for design in designs:
        together = [Run(design, s) for s in settings if s.name not in design.settings_alone]
        alone = [[Run(design, s)] for s in settings if s.name in design.settings_alone]
        groups += [together, *alone] if together else alone
    return groups


def run_quick(
    api: LocalDataApi, progress: Callable[[str], None] = lambda _line: None
) -> list[DesignResult]:
    """This project's designs, small, all at once under BASE: for the invariants, never speed."""
    designs = quick_designs()
    bodies = make_bodies(max(d.messages for d in designs))
    runs = [Run(design, setting) for design in designs for setting in QUICK_SETTINGS]
    return run_suite(api, [runs], bodies, progress)
