"""The two PNGs: rows/s by design, and active statements over time against the quota."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bench.designs import Kind
from bench.runner import DesignResult

_OLD_COLOURS = ("#c0392b", "#e67e22", "#b7950b")
_NEW_COLOURS = ("#2471a3", "#1e8449", "#7d3c98")


def _colours(results: list[DesignResult]) -> list[str]:
    old = iter(_OLD_COLOURS)
    new = iter(_NEW_COLOURS)
    return [next(old) if r.design.kind is Kind.LEGACY else next(new) for r in results]


def plot_throughput(
    results: list[DesignResult], ceiling: float, old_final: float, path: Path
) -> None:
    compared = [r for r in results if r.design.compared]
    colours = _colours(compared)
    # A bare Figure, not pyplot: no global state and no display backend needed.
    figure = Figure(figsize=(13, 5.2))
    bars, curves = figure.subplots(1, 2, width_ratios=(1, 1.15))

    rates = [r.sustained_rows_per_second for r in compared]
    positions = range(len(compared))
    bars.bar(positions, rates, color=colours)
    top = max([*rates, ceiling]) * 1.15
    for x, rate in zip(positions, rates, strict=True):
        # Tall bars carry their figure inside, clear of the reference lines above them.
        inside = rate > 0.5 * top
        bars.annotate(
            f"{rate:,.0f}",
            (x, rate),
            ha="center",
            va="top" if inside else "bottom",
            fontsize=10,
            color="white" if inside else "black",
            fontweight="bold" if inside else "normal",
            xytext=(0, -4 if inside else 3),
            textcoords="offset points",
        )
    bars.axhline(ceiling, color="black", linestyle="--", linewidth=1)
    bars.annotate(f"model ceiling {ceiling:,.0f}", (-0.45, ceiling), va="bottom", fontsize=9)
    bars.axhline(30 * old_final, color="grey", linestyle=":", linewidth=1.2)
    bars.annotate(
        f"30 x old final fix = {30 * old_final:,.0f}",
        (-0.45, 30 * old_final),
        va="bottom",
        fontsize=9,
        color="dimgrey",
    )
    bars.set_xticks(list(positions), [r.design.key for r in compared])
    bars.set_xlabel("design (see legend on the right)")
    bars.set_ylabel("sustained rows/s landed in the table")
    bars.set_ylim(0, top)
    bars.set_title("Sustained rows/s, same cluster model")

    for result, colour in zip(compared, colours, strict=True):
        times = [t for t, _ in result.row_samples]
        rows = [n for _, n in result.row_samples]
        curves.plot(times, rows, color=colour, linewidth=2, label=result.design.label)
    curves.set_xlabel("seconds since the run started")
    curves.set_ylabel("rows committed (cumulative)")
    curves.set_title("Rows landed over time")
    curves.grid(alpha=0.3)
    curves.legend(fontsize=9, loc="upper left")

    figure.tight_layout()
    figure.savefig(path, dpi=110)


def plot_active(results: list[DesignResult], quota: int, path: Path) -> None:
    compared = [r for r in results if r.design.compared]
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
    full.set_title("Active Data API statements on the cluster (SUBMITTED + PICKED + STARTED)")
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
