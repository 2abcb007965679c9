"""`python -m bench.run`: the full benchmark into docs/; `--quick`: the invariants only, for CI."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bodies import make_bodies
from bench.cost import template_size
from bench.cpu import measure_in_fresh_process
from bench.designs import BACKLOG, FULL_SETTINGS, NEW, PEAK, TRICKLE, Design, full_designs
from bench.goals import GOAL_SETTING, check_goals, result_of
from bench.invariants import violations
from bench.packing import measure as measure_packing
from bench.packing import report as packing_report
from bench.peers import freshness_table, headline_table, peer_rows, ratios_against, spread
from bench.plots import plot_active, plot_peers, plot_throughput
from bench.report import (
    PeerSection,
    RunInfo,
    ceiling_table,
    ratios_table,
    render_report,
    sensitivity_table,
)
from bench.runner import DATABASE, TABLE, DesignResult, Run
from bench.suite import run_quick, run_suite, side_by_side
from local.model import BASE, FAST
from local.stack import LocalDataApi

DOCS = Path(__file__).resolve().parent.parent / "docs"
_CPU_SAMPLE = 3_000  # bodies for the handler CPU measurement


def _say(line: str) -> None:
    print(line, flush=True)


def _report_violations(results: list[DesignResult]) -> int:
    found = [v for r in results for v in violations(r)]
    for line in found:
        _say(f"INVARIANT VIOLATED: {line}")
    if not found:
        _say("invariants hold: never above the bound, no quota refusal, nothing lost or doubled")
    return 1 if found else 0


# Under the two steady loads (base setting only), which designs run at once: the old fleets and
# the Pipes peer churn on the quota and keep both cores busy, so they run apart from the others.
_TRICKLE_GROUPS = (("1", "2", "3"), ("4", "5", "6", "F", "P"))
_PEAK_GROUPS = (("1",), ("2",), ("P",), ("3", "4", "5", "6", "F"))
REPEATS = 2  # extra backlog runs of the headline design under base, for its spread


def freshness_groups(designs: list[Design]) -> list[list[Run]]:
    by_key = {d.key: d for d in designs}
    base = next(s for s in FULL_SETTINGS if s.name == GOAL_SETTING)
    return [
        [Run(by_key[key], base, load) for key in group]
        for load, groups in ((TRICKLE, _TRICKLE_GROUPS), (PEAK, _PEAK_GROUPS))
        for group in groups
    ]


def quick() -> int:
    started = time.monotonic()
    with LocalDataApi(model=FAST) as api:
        results = run_quick(api, _say)
    _say(f"quick benchmark: {time.monotonic() - started:.0f} s")
    return _report_violations(results)


def full(out: Path) -> int:
    started = time.monotonic()
    designs = full_designs()
    bodies = make_bodies(max(d.messages for d in designs))
    with LocalDataApi(model=FAST) as api:
        _say(f"PostgreSQL from {api.postgres_source}")
        by_key = {d.key: d for d in designs}
        base = next(s for s in FULL_SETTINGS if s.name == GOAL_SETTING)
        repeats = [[Run(by_key[NEW], base)] for _ in range(REPEATS)]
        groups = side_by_side(designs, FULL_SETTINGS) + freshness_groups(designs)
        everything = run_suite(api, groups + repeats, bodies, _say)
        extra = everything[len(everything) - REPEATS :]
        measured = everything[: len(everything) - REPEATS]
        results = [r for r in measured if r.load is BACKLOG]
        loaded = [r for r in measured if r.load is not BACKLOG]
        design_order = {d.key: i for i, d in enumerate(designs)}
        setting_order = {s.name: i for i, s in enumerate(FULL_SETTINGS)}
        results.sort(key=lambda r: (design_order[r.design.key], setting_order[r.setting.name]))
        with api.connect(results[0].targets[0], DATABASE) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        found_by = api.postgres_source.split(":", 1)[0]  # the path after it is this machine's
        postgres = f"{version[0] if version else '?'}, found by {found_by}"
    headline = result_of(results, NEW, GOAL_SETTING).sustained_rows_per_second
    headline_spread = spread([headline, *(r.sustained_rows_per_second for r in extra)])
    rows = peer_rows(results + loaded, template_size())
    cpu = measure_in_fresh_process(bodies[:_CPU_SAMPLE], TABLE)
    checks = check_goals(results, cpu)
    info = RunInfo(
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        seconds=time.monotonic() - started,
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        postgres=postgres,
    )
    out.mkdir(parents=True, exist_ok=True)
    packing = measure_packing()
    peers = PeerSection(rows, results + loaded, headline_spread)
    (out / "benchmark.md").write_text(render_report(results, cpu, checks, info, packing, peers))
    plot_peers(rows, out / "benchmark-peers.png")
    plot_throughput(results, GOAL_SETTING, out / "benchmark-throughput.png")
    plot_active(results, GOAL_SETTING, BASE.active_quota, out / "benchmark-active-statements.png")
    for title, table in (
        ("Sustained rows/s per design and setting", sensitivity_table(results)),
        ("Ratios, side by side", ratios_table(results)),
        ("The model's ceiling per design and setting", ceiling_table(results)),
        ("Rows per commit under each request budget", packing_report(packing).splitlines()),
        ("Against the peers (base setting)", headline_table(rows)),
        (f"Design {NEW} against every other design", ratios_against(rows)),
        ("Freshness per design and load", freshness_table(results + loaded)),
    ):
        _say(f"\n{title}:")
        for line in table:
            _say(line)
    _say("")
    for check in checks:
        status = "reported" if check.met is None else "met     " if check.met else "MISSED  "
        _say(f"{status} {check.goal}: {check.figure}")
    _say(f"headline design {NEW} under {GOAL_SETTING}, backlog: {headline_spread}")
    _say(f"wrote {out / 'benchmark.md'} and three PNGs in {info.seconds:.0f} s")
    return _report_violations(results + loaded + extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small runs of this project, invariants only"
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="where the full run writes")
    args = parser.parse_args(argv)
    return quick() if args.quick else full(args.out)


if __name__ == "__main__":
    sys.exit(main())
