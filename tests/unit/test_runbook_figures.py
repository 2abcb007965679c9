"""Every figure docs/runbook.md quotes is recomputed from template.yaml (its parameters'
defaults, its Mappings): the runbook's figures table row by row, and every other time or count
its prose gives, so a default changed in the template fails here until the runbook follows."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.template.cfn import load_template

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
DAY = 86_400

Figure = tuple[Fraction, str]  # a value and its unit ("" for a count)


def _defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in template["Parameters"].items()}


def table_figures(template: dict[str, Any]) -> dict[str, Figure]:
    """The figures table's rows, by their first column, as the template computes them."""
    defaults = _defaults(template)
    maps = template["Mappings"]
    queues = maps["Constants"]["Queues"]
    timeout, window = defaults["FunctionTimeoutSeconds"], defaults["BatchingWindowSeconds"]
    t, w = int(timeout), int(window)
    visibility = int(maps["VisibilityTimeout"][timeout][window])
    concurrency = defaults["MaximumConcurrency"]
    per_timeout = maps["FunctionTimeout"][timeout]
    held_seconds = int(queues["HeldAlarmPeriodSeconds"]) * int(queues["HeldAlarmPeriods"])
    ladder = template["Parameters"]["MaximumConcurrency"]["AllowedValues"]
    return {
        "FunctionTimeoutSeconds": (Fraction(t), "s"),
        "BatchingWindowSeconds": (Fraction(w), "s"),
        "MaximumConcurrency": (Fraction(int(concurrency)), ""),
        "MaximumConcurrency lowest step": (Fraction(min(int(v) for v in ladder)), ""),
        "MaxReceiveCount": (Fraction(int(defaults["MaxReceiveCount"])), ""),
        "ReservedConcurrentExecutions": (
            Fraction(int(maps["ReservedConcurrency"][concurrency]["Executions"])),
            "",
        ),
        "visibility timeout V": (Fraction(visibility), "s"),
        "OldestMessageAgeAlarm threshold": (
            Fraction(int(maps["OldestMessageAgeAlarm"][timeout][window])),
            "s",
        ),
        # window + timeout + V + window + timeout + a minute of polling
        "a record retried once is gone by": (Fraction(w + t + visibility + w + t + 60), "s"),
        "last receive (the function's own letter)": (
            Fraction((int(defaults["MaxReceiveCount"]) - 1) * visibility),
            "s",
        ),
        "RecordsReturnedAlarm span": (
            Fraction(int(maps["RecordsReturnedAlarm"][timeout][window])),
            "min",
        ),
        "work deadline (then statements are cancelled)": (
            Fraction(int(per_timeout["WorkDeadlineMilliseconds"]), 1000),
            "s",
        ),
        "FunctionDurationAlarm threshold": (
            Fraction(int(per_timeout["DurationAlarmMilliseconds"])),
            "ms",
        ),
        "heartbeat period (FunctionMetricsMissingAlarm, 3 in a row)": (
            Fraction(int(per_timeout["HeartbeatPeriodSeconds"])),
            "s",
        ),
        "source queue retention": (Fraction(int(queues["SourceRetentionSeconds"]), DAY), "days"),
        "SourceExpiryAlarm threshold": (
            Fraction(int(queues["SourceExpiryAlarmSeconds"]), DAY),
            "days",
        ),
        "dead-letter queue and archive retention": (
            Fraction(int(queues["DeadLetterRetentionSeconds"]), DAY),
            "days",
        ),
        "DeadLetterAgeAlarm threshold": (
            Fraction(int(queues["DeadLetterAgeAlarmSeconds"]), DAY),
            "days",
        ),
        "DeadLetterHeldAlarm / ArchiveHeldAlarm span": (Fraction(held_seconds, DAY), "days"),
        "ArchiveAgeAlarm threshold": (Fraction(int(queues["ArchiveAgeAlarmSeconds"]), DAY), "days"),
    }


def derived_figures(template: dict[str, Any]) -> set[Figure]:
    """Figures the prose gives beside the table's: differences the alarms are built from."""
    defaults = _defaults(template)
    maps = template["Mappings"]
    queues = {k: int(v) for k, v in maps["Constants"]["Queues"].items()}
    timeout = defaults["FunctionTimeoutSeconds"]
    per_timeout = maps["FunctionTimeout"][timeout]
    held = queues["HeldAlarmPeriodSeconds"] * queues["HeldAlarmPeriods"]
    return {
        # the work deadline's margin below the timeout
        (int(timeout) - Fraction(int(per_timeout["WorkDeadlineMilliseconds"]), 1000), "s"),
        # the notice each expiry alarm gives
        (
            Fraction(
                queues["DeadLetterRetentionSeconds"]
                - queues["SourceRetentionSeconds"]
                - queues["DeadLetterAgeAlarmSeconds"],
                DAY,
            ),
            "days",
        ),
        (
            Fraction(queues["SourceRetentionSeconds"] - queues["SourceExpiryAlarmSeconds"], DAY),
            "days",
        ),
        (
            Fraction(queues["DeadLetterRetentionSeconds"] - queues["ArchiveAgeAlarmSeconds"], DAY),
            "days",
        ),
        # what a never-empty DLQ's oldest letter may have left, and the archive's
        (
            Fraction(
                queues["DeadLetterRetentionSeconds"] - queues["SourceRetentionSeconds"] - held, DAY
            ),
            "days",
        ),
        (Fraction(queues["DeadLetterRetentionSeconds"] - held, DAY), "days"),
        # the per-target and dead-letter alarms' period
        (
            Fraction(
                int(
                    template["Resources"]["DeadLetterArrivalsAlarm"]["Properties"]["Metrics"][0][
                        "MetricStat"
                    ]["Period"]
                ),
                60,
            ),
            "min",
        ),
        # the reservation's headroom above MaximumConcurrency
        (Fraction(int(maps["Constants"]["Concurrency"]["ReservedHeadroom"])), ""),
    }


# Figures that are not the template's, each with where it comes from.
FIXED: dict[Figure, str] = {
    (Fraction(20), "s"): "SQS's long-poll maximum (ReceiveMessage WaitTimeSeconds 0-20)",
    (Fraction(30), "s"): "the inspection command's own --visibility-timeout 30",
    (Fraction(60), "s"): "SQS DeleteQueue: wait 60 seconds before re-using a queue's name",
}

_UNITS = {"ms": "ms", "s": "s", "seconds": "s", "min": "min", "minutes": "min"}
_UNITS |= {"day": "days", "days": "days"}
_WITH_UNIT = re.compile(
    r"(?<![\w.\-\u2212])(\d[\d,]*(?:\.\d+)?)\s(ms|s|seconds|min|minutes|days?)\b(?![-\w])"
)
_AT_DEFAULTS = re.compile(r"\((\d[\d,]*)\s+at\s+the\s+defaults\)")


def _number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _sections(text: str) -> tuple[str, str]:
    """(the figures section, the rest without fenced code): commands are not figures."""
    start = text.index("## Figures at the template's defaults")
    end = text.index("\n## ", start + 1)
    rest = text[:start] + text[end:]
    return text[start:end], re.sub(r"```.*?```", "", rest, flags=re.DOTALL)


def _table_rows(section: str) -> dict[str, Figure]:
    rows: dict[str, Figure] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in {"figure", "---"}:
            continue
        match = re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)(?: (ms|s|min|days))?", cells[2])
        assert match, f"unreadable value {cells[2]!r} in the figures table"
        rows[cells[0].replace("`", "")] = (_number(match[1]), match[2] or "")
    return rows


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def runbook() -> str:
    return RUNBOOK.read_text(encoding="utf-8")


def test_every_row_of_the_figures_table_is_the_templates(
    template: dict[str, Any], runbook: str
) -> None:
    section, _ = _sections(runbook)
    assert _table_rows(section) == table_figures(template)


def test_every_figure_in_the_prose_is_one_the_template_gives(
    template: dict[str, Any], runbook: str
) -> None:
    _, prose = _sections(runbook)
    known = set(table_figures(template).values()) | derived_figures(template) | set(FIXED)
    quoted = {(_number(n), _UNITS[unit]) for n, unit in _WITH_UNIT.findall(prose)}
    quoted |= {(_number(n), "") for n in _AT_DEFAULTS.findall(prose)}
    assert quoted, "the prose quotes no figures: the pattern is broken"
    assert sorted(quoted - known) == []


def test_a_stale_figure_would_be_caught(template: dict[str, Any], runbook: str) -> None:
    # The check itself: the visibility timeout of the old defaults (120 s, 5 s) is refused.
    _, prose = _sections(runbook)
    known = set(table_figures(template).values()) | derived_figures(template) | set(FIXED)
    stale = prose + " V is 725 s with the defaults."
    quoted = {(_number(n), _UNITS[unit]) for n, unit in _WITH_UNIT.findall(stale)}
    assert (Fraction(725), "s") in quoted - known


def test_the_quota_step_never_raises_concurrency_to_a_default(runbook: str) -> None:
    # The old step set MaximumConcurrency=5, the default: a "lower" share that could be higher.
    assert "MaximumConcurrency=5" not in runbook
    assert "--scaling-config MaximumConcurrency=<one step lower>" in runbook
