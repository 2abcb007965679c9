"""What calibrate prints: a line per measured level, then the fit, the settings, the cost."""

from __future__ import annotations

from typing import TextIO

from calibrate.measure import LevelResult, Measurements
from calibrate.recommend import Recommendation, Workload, recommend
from calibrate.session import SessionResult
from calibrate.workload import Shape

HEADER = (
    f"{'transaction':<14}{'writers':>8}{'done':>7}{'rows/tx':>9}{'KB/tx':>8}"
    f"{'latency s':>11}{'commits/s':>11}{'rows/s':>9}"
)


def level_line(shape: Shape, level: LevelResult) -> str:
    rows = level.rows / level.transactions
    kb = level.kb / level.transactions
    partial = "" if level.complete else "  (budget ran out)"
    return (
        f"{shape.label:<14}{level.writers:>8}{level.transactions:>7}{rows:>9.0f}{kb:>8.1f}"
        f"{level.mean_latency:>11.3f}{level.commits_per_second:>11.2f}"
        f"{level.rows_per_second:>9.0f}{partial}"
    )


def fit_lines(measurements: Measurements) -> list[str]:
    lines = []
    for shape in measurements.shapes:
        bound = "=" if shape.saturated else "<="
        lines.append(
            f"  {shape.shape.label:<14} {shape.transaction_kb:7.1f} KB: commit {bound} "
            f"{shape.commit_seconds * 1000:.1f} ms (top {shape.top_commits_per_second:.2f}/s at "
            f"{max(shape.levels, key=lambda lv: lv.commits_per_second).writers} writers), "
            f"latency {shape.latency:.3f} s with 1 writer"
        )
    commit, latency = measurements.commit, measurements.latency
    lines.append(
        f"  fit: commit = {commit.intercept * 1000:.1f} ms + {commit.slope * 1000:.3f} ms/KB; "
        f"latency (1 writer) = {latency.intercept:.3f} s + {latency.slope * 1000:.3f} ms/KB"
    )
    if not measurements.saturated:
        unsaturated = ", ".join(s.shape.label for s in measurements.shapes if not s.saturated)
        lines.append(
            f"  not saturated ({unsaturated}): commits/s still grew at the most writers tried, "
            "so the cluster commits at least this fast and the costs are upper bounds; rerun "
            "with a higher --max-concurrency (settings below are conservative)"
        )
    return lines


def recommendation_lines(rec: Recommendation) -> list[str]:
    overrides = " ".join(f"{key}={value}" for key, value in rec.template_parameters().items())
    lines = [
        f"  {overrides}",
        f"  expected: about {rec.expected_rows_per_second:.0f} rows/s per target "
        f"({rec.commits_per_second:.2f} transactions/s of {rec.batch_size} rows)",
        "  why:",
    ]
    lines += [f"    {line}" for line in rec.reasoning]
    lines += [f"  note: {warning}" for warning in rec.warnings]
    lines.append(f"  sam deploy --parameter-overrides {overrides}")
    return lines


def cost_lines(result: SessionResult) -> list[str]:
    return [
        f"Ran {result.submits} Data API submits ({result.sql_statements} SQL statements: "
        f"CREATE, the measurements, DROP) in {result.seconds:.0f} s.",
        "  Data API calls cost nothing; the cluster's time does. A provisioned cluster gave "
        "these seconds of commit queue to calibrate instead of its other work.",
        "  Serverless bills RPU-seconds while statements run (per second; AWS's pricing page "
        f"adds a 60 s minimum): about base RPUs x {max(60.0, result.seconds):.0f} s, e.g. "
        f"8 RPU -> {8 * max(60.0, result.seconds) / 3600:.2f} RPU-hours.",
    ]


def drop_lines(result: SessionResult) -> list[str]:
    if not result.drop_attempted:
        return [f"Scratch table {result.table} never created: the CREATE was not accepted."]
    if result.drop_error is None:
        return [f"Scratch table {result.table} dropped."]
    if not result.created:
        return [
            f"Could not run the DROP ({result.drop_error}); the CREATE never finished, so the "
            f"scratch table {result.table} most likely does not exist.",
            f"  If it does, run this in the target database: {result.drop_sql}",
        ]
    return [
        f"COULD NOT DROP the scratch table {result.table} ({result.drop_error}).",
        f"  Run this in the target database: {result.drop_sql}",
    ]


def report(result: SessionResult, workload: Workload, out: TextIO) -> None:
    """Everything after the level lines: how it ended, the fit, the settings, cost, cleanup."""

    def say(*lines: str) -> None:
        for line in lines:
            print(line, file=out)

    if result.interrupted:
        say("Interrupted: the statements in flight were cancelled.")
    if result.error:
        say(f"Stopped by an error: {result.error}")
    if result.budget_spent:
        say(f"Budget spent ({result.budget_spent}): the measurement stopped there.")
    measurements = result.measurements
    profile = measurements.profile() if measurements else None
    if measurements is None or profile is None:
        say("Nothing was measured: no recommendation.")
    else:
        say("", "Commit cost and latency by transaction size:", *fit_lines(measurements))
        if len(measurements.shapes) < 2:
            say("  one size only: the per-KB cost could not be separated from the fixed part")
        say("", "Recommended settings (template.yaml parameters):")
        say(*recommendation_lines(recommend(profile, workload)))
    say("", *cost_lines(result), *drop_lines(result))
