"""What must hold for this project whatever the speed: within its bound, nothing lost or doubled."""

from __future__ import annotations

from bench.designs import Kind
from bench.runner import DesignResult


def peer_violations(result: DesignResult) -> list[str]:
    """A peer design's invariants: nothing acknowledged is lost, nothing foreign lands, every
    message of a backlog is delivered. Duplicates are not a violation (Firehose delivers at
    least once): they are counted and reported."""
    name = f"design {result.design.key}"
    checks = {
        "records acknowledged but missing from a target (lost)": result.lost,
        "rows of messages never sent": sum(x.foreign for x in result.landings),
        "invocations that crashed": len(result.tally.errors),
    }
    if result.design.kind is Kind.FIREHOSE and not result.load.steady:
        # It runs until its backlog is done; the Pipes peer, like the old fire-and-forget
        # designs, runs a window against a backlog it cannot finish.
        checks["messages never delivered"] = result.left_in_queue
    return [f"{name}: {count} {what}" for what, count in checks.items() if count]


def violations(result: DesignResult) -> list[str]:
    """Every broken invariant of one of this project's runs (or a peer's), worded for a CI
    log; [] if none."""
    design = result.design
    if design.kind in (Kind.FIREHOSE, Kind.PIPES):
        return peer_violations(result)
    if design.kind is not Kind.FUNCTION:
        return []  # the old designs break them by design: that is what is being compared
    name = f"design {design.key}"
    found: list[str] = []
    bound = design.active_bound
    for target, peak in zip(result.targets, result.peak_active, strict=True):
        if bound is not None and peak > bound:
            found.append(f"{name}: {peak} active statements on {target}, above the bound {bound}")
    checks = {
        "submits refused by the active-statement quota": result.quota_errors,
        "records acknowledged but missing from a target (lost)": result.lost,
        "duplicated rows": result.duplicated,
        "rows of messages never sent": sum(x.foreign for x in result.landings),
        "rows landed for messages still queued (future duplicates)": sum(
            x.landed_unacknowledged for x in result.landings
        ),
        # Under a steady load a design may fall behind: what is queued at the end is reported
        # as not committed within the window, not as a violation.
        "messages never delivered": 0 if result.load.steady else result.left_in_queue,
        "deletes with a stale receipt (redelivered while still being processed)": (
            result.stale_deletes
        ),
        "records dead-lettered (the bodies are clean)": result.dead_lettered,
        "invocations that crashed": len(result.tally.errors),
    }
    found.extend(f"{name}: {count} {what}" for what, count in checks.items() if count)
    return found
