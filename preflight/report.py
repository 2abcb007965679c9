"""What preflight prints: one aligned table (check, what the service said, what the function
concluded, OK or MISMATCH), a summary line, the notes, the cost and the cleanup."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TextIO

from preflight.context import CheckResult
from preflight.session import SessionResult

HEADINGS = ("check", "service said", "function concluded", "result")
OK, MISMATCH = "OK", "MISMATCH"
NOTE_WIDTH = 100


def table_lines(results: Sequence[CheckResult]) -> list[str]:
    """The table: columns as wide as their widest cell, two spaces apart, a rule under the
    headings."""
    rows = [(r.check, r.said, r.concluded, OK if r.ok else MISMATCH) for r in results]
    widths = [max(len(cells[i]) for cells in [HEADINGS, *rows]) for i in range(len(HEADINGS))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return [line(HEADINGS).rstrip(), rule, *(line(cells).rstrip() for cells in rows)]


def summary_line(result: SessionResult, planned: int) -> str:
    mismatches = len(result.mismatches)
    ran = len(result.results)
    text = f"{ran} checks: {ran - mismatches} OK, {mismatches} {MISMATCH}"
    if ran < planned:
        text += f"; {planned - ran} not run"
    if mismatches:
        text += " - the function's contract does not hold on this target (docs/deploy.md)"
    elif ran == planned and result.error is None and not result.interrupted:
        text += " - the function's contract holds on this target"
    return text


def note_lines(results: Sequence[CheckResult], width: int = NOTE_WIDTH) -> list[str]:
    notes = [
        line
        for r in results
        if r.note
        for line in textwrap.wrap(
            f"{r.check}: {r.note}", width, initial_indent="  ", subsequent_indent="    "
        )
    ]
    return ["Notes:", *notes] if notes else []


def drop_lines(result: SessionResult) -> list[str]:
    if not result.drop_attempted:
        return [f"Scratch table {result.table} never created: the CREATE was not accepted."]
    if result.drop_error is None:
        return [f"Scratch table {result.table} dropped."]
    return [
        f"COULD NOT DROP the scratch table {result.table} ({result.drop_error}).",
        f"  Run this in the target database: {result.drop_sql}",
    ]


def report(result: SessionResult, planned: int, out: TextIO) -> None:
    def say(*lines: str) -> None:
        for line in lines:
            print(line, file=out)

    if result.results:
        say(*table_lines(result.results), "")
    if result.interrupted:
        say("Interrupted: the statements in flight were cancelled.")
    if result.error:
        say(f"Stopped by an error: {result.error}")
    say(summary_line(result, planned))
    notes = note_lines(result.results)
    if notes:
        say("", *notes)
    say(
        "",
        f"Ran {result.statements} statements in {result.seconds:.0f} s.",
        *drop_lines(result),
    )
