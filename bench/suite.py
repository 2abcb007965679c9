"""Runs a list of designs on one local stack: moto, the instance processes, one cluster model."""

from __future__ import annotations

from collections.abc import Callable

from bench.aws import AwsResources, instance_environment
from bench.bodies import make_bodies
from bench.designs import QUICK_MODEL, Design, quick_designs
from bench.instances import InstancePool
from bench.runner import Bench, DesignResult, run_design
from local.aws_doubles import moto_server
from local.model import ClusterModel
from local.stack import LocalDataApi


def run_suite(
    api: LocalDataApi,
    designs: list[Design],
    model: ClusterModel,
    bodies: list[str],
    progress: Callable[[str], None] = lambda _line: None,
) -> list[DesignResult]:
    results: list[DesignResult] = []
    with moto_server() as moto_url:
        environment = instance_environment(api.endpoint_url, moto_url)
        with InstancePool(max(d.instances for d in designs), environment) as pool:
            bench = Bench(api, AwsResources(moto_url), pool, model)
            for design in designs:
                progress(f"design {design.key}: {design.title} ...")
                result = run_design(bench, design, bodies)
                progress(
                    f"design {design.key}: {result.sustained_rows_per_second:,.0f} rows/s, "
                    f"{sum(result.api_calls.values())} Data API calls, "
                    f"peak {max(result.peak_active)} active, {result.quota_errors} refused, "
                    f"{result.lost} lost, {result.duplicated} duplicated"
                )
                results.append(result)
    return results


def run_quick(
    api: LocalDataApi, progress: Callable[[str], None] = lambda _line: None
) -> list[DesignResult]:
    """This project's designs, small, on QUICK_MODEL: for the invariants, never for speed."""
    designs = quick_designs()
    bodies = make_bodies(max(d.messages for d in designs))
    return run_suite(api, designs, QUICK_MODEL, bodies, progress)
