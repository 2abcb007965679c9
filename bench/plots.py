"""The two PNGs: rows/s by design, and active statements over time against the quota."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from matplotlib.figure import Figure

from bench.designs import Kind
from bench.peers import PeerRow
from bench.runner import DesignResult

_OLD_COLOURS = ("#c0392b", "#e67e22", "#b7950b")
_NEW_COLOURS = ("#2471a3", "#1e8449", "#7d3c98", "#17a589")
_PEER_COLOURS = ("#5d6d7e", "#a04000")


def _colours(results: list[DesignResult]) -> list[str]:
    old = itertools.cycle(_OLD_COLOURS)
    new = itertools.cycle(_NEW_COLOURS)
    peer = itertools.cycle(_PEER_COLOURS)
    palette = {Kind.LEGACY: old, Kind.FUNCTION: new, Kind.FIREHOSE: peer, Kind.PIPES: peer}
    return [next(palette[r.design.kind]) for r in results]


_SETTING_COLOURS = ("#2471a3", "#1e8449", "#c0392b", "#7d3c98")


def plot_throughput(results: list[DesignResult], base: str, path: Path) -> None:
    """Left: rows/s of each design under each setting (log scale), each bar with its ceiling.
    Right: rows landed over time under the `base` setting."""
    compared = [r for r in results if r.design.compared]
    designs = list(dict.fromkeys(r.design.key for r in compared))
    settings = list(dict.fromkeys(r.setting.name for r in compared))
    # A bare Figure, not pyplot: no global state and no display backend needed.
    figure = Figure(figsize=(14, 5.6))
    bars, curves = figure.subplots(1, 2, width_ratios=(1.25, 1))

    width = 0.8 / len(settings)
    for index, (setting, colour) in enumerate(zip(settings, _SETTING_COLOURS, strict=False)):
        chosen = [
            next(r for r in compared if r.design.key == k and r.setting.name == setting)
            for k in designs
        ]
        positions = [x + (index - (len(settings) - 1) / 2) * width for x in range(len(designs))]
        rates = [max(r.sustained_rows_per_second, 0.1) for r in chosen]
        bars.bar(positions, rates, width=width * 0.92, color=colour, label=setting)
        for x, rate, result in zip(positions, rates, chosen, strict=True):
            bars.annotate(
                f"{rate:,.0f}",
                (x, rate),
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90,
                xytext=(0, 2),
                textcoords="offset points",
            )
            ceiling = result.commits.ceiling_rows_per_second
            if 0 < ceiling < float("inf"):
                bars.hlines(ceiling, x - width / 2, x + width / 2, color="black", linewidth=1.4)
    bars.plot([], [], color="black", linewidth=1.4, label="the model's ceiling for that bar")
    bars.set_yscale("log")
    bars.set_xticks(list(range(len(designs))), designs)
    bars.set_xlabel("design (see legend on the right)")
    bars.set_ylabel("sustained rows/s landed in the table (log scale)")
    bars.set_title("Sustained rows/s by design and setting")
    bars.grid(axis="y", alpha=0.3, which="both")
    bars.legend(fontsize=9, loc="upper left", title="setting")

    under_base = [r for r in compared if r.setting.name == base]
    for result, colour in zip(under_base, _colours(under_base), strict=True):
        times = [t for t, _ in result.row_samples]
        rows = [n for _, n in result.row_samples]
        curves.plot(times, rows, color=colour, linewidth=2, label=result.design.label)
    curves.set_xlabel("seconds since the run started")
    curves.set_ylabel("rows committed (cumulative)")
    curves.set_title(f"Rows landed over time, {base} setting")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=9, loc="upper left")

    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_active(results: list[DesignResult], setting: str, quota: int, path: Path) -> None:
    compared = [r for r in results if r.design.compared and r.setting.name == setting]
    colours = _colours(compared)
    figure = Figure(figsize=(12, 8.5))
    full, zoom = figure.subplots(2, 1, height_ratios=(1.4, 1))

    for result, colour in zip(compared, colours, strict=True):
        times = [t for t, _ in result.active_timeline]
        active = [n for _, n in result.active_timeline]
        full.step(
            times, active, where="post", color=colour, linewidth=1.6, label=result.design.label
        )
        if result.first_quota_error is not None:
            full.plot(
                result.first_quota_error,
                quota,
                marker="X",
                markersize=11,
                color=colour,
                markeredgecolor="black",
                linestyle="none",
            )
        if max(result.peak_active) < quota / 10:
            zoom.step(
                times, active, where="post", color=colour, linewidth=1.6, label=result.design.label
            )
    full.axhline(quota, color="black", linestyle="--", linewidth=1.2)
    full.annotate(
        f"quota: {quota} active statements (X: the first submit it refused)",
        (0.36, quota),
        xycoords=("axes fraction", "data"),
        va="bottom",
        fontsize=9,
    )
    full.set_ylim(0, quota * 1.12)
    full.set_ylabel("active statements")
    full.set_title(
        f"Active Data API statements on the cluster (SUBMITTED + PICKED + STARTED), {setting} "
        "setting"
    )
    full.legend(fontsize=9, loc="center right")
    full.grid(alpha=0.3)

    bounds = [r.design.active_bound for r in compared if r.design.active_bound is not None]
    if bounds:
        bound = max(bounds)
        zoom.axhline(bound, color="#2471a3", linestyle="--", linewidth=1.2)
        zoom.annotate(
            f"this project's bound: MaximumConcurrency x targets = {bound}",
            (0.3, bound),
            va="bottom",
            fontsize=9,
            color="#2471a3",
        )
        zoom.set_ylim(0, bound * 1.6)
    zoom.set_xlabel("seconds since the run started")
    zoom.set_ylabel("active statements")
    zoom.set_title("The same, zoomed: the designs that stay far below the quota")
    zoom.legend(fontsize=9, loc="upper right")
    zoom.grid(alpha=0.3)

    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_peers(rows: list[PeerRow], path: Path) -> None:
    """Left: freshness p50 (bar) and p99 (tick) per design at each load (log scale; a design
    that fell behind shows its bar at the window's end, hatched). Right: cost per million."""
    figure = Figure(figsize=(14, 5.6))
    fresh, cost = figure.subplots(1, 2, width_ratios=(1.6, 1))
    loads = list(dict.fromkeys(load for row in rows for load in row.freshness))
    width = 0.8 / max(len(loads), 1)
    for index, (load, colour) in enumerate(zip(loads, _SETTING_COLOURS, strict=False)):
        for x, row in enumerate(rows):
            found = row.freshness.get(load)
            if found is None:
                continue
            position = x + (index - (len(loads) - 1) / 2) * width
            behind = math.isinf(found.p50)
            height = row.windows[load] if behind else max(found.p50, 0.05)
            fresh.bar(
                position,
                height,
                width=width * 0.92,
                color=colour,
                hatch="//" if behind else None,
                label=load if x == 0 else None,
            )
            if not math.isinf(found.p99):
                fresh.hlines(found.p99, position - width / 2, position + width / 2, color="black")
    fresh.plot([], [], color="black", label="p99")
    fresh.set_yscale("log")
    fresh.set_xticks(list(range(len(rows))), [row.key for row in rows])
    fresh.set_ylabel("seconds from SendMessage to the row's commit (log scale)")
    fresh.set_title("Freshness p50 (bar) and p99 (tick), base setting; hatched: fell behind")
    fresh.grid(axis="y", alpha=0.3, which="both")
    fresh.legend(fontsize=9, loc="upper left", title="offered load")

    totals = [row.cost_per_million for row in rows]
    cost.bar(range(len(rows)), totals, color="#2471a3")
    for x, (total, row) in enumerate(zip(totals, rows, strict=True)):
        cost.annotate(
            f"${total:.2f}\n{row.rows_per_second:,.0f} rows/s",
            (x, total),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    cost.set_xticks(list(range(len(rows))), [row.key for row in rows])
    cost.set_ylabel("USD per million events (backlog drain, base setting)")
    cost.set_title("Cost per million events, and sustained rows/s")
    cost.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
