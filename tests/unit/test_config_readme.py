"""The README's configuration table lists exactly the settings ingest.config declares, and its
retry table quotes ingest.retry_policy's figures."""

from __future__ import annotations

import re
from pathlib import Path

from ingest import retry_policy
from ingest.config import SETTINGS, Required, Text
from ingest.retry_policy import Backoff

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| variable | required | default | bounds | meaning |"


def expected_rows() -> list[str]:
    """Each declared setting as its README row, in declaration order."""
    rows = []
    for setting in SETTINGS:
        if isinstance(setting, Required):
            cells = ["yes", "", ""]
        elif isinstance(setting, Text):
            cells = ["no", f"`{setting.default}`", ""]
        else:
            number = "d" if setting.kind is int else "g"
            cells = [
                "no",
                f"{setting.default:{number}}",
                f"{setting.low:{number}}-{setting.high:{number}}",
            ]
        rows.append("| " + " | ".join([f"`{setting.variable}`", *cells, setting.meaning]) + " |")
    return rows


def readme_rows() -> list[str]:
    """The rows of the table under "## Configuration", separator left out."""
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    lines = section.splitlines()
    start = lines.index(HEADER)
    table = []
    for text in lines[start + 2 :]:
        if not text.startswith("|"):
            break
        table.append(text)
    return table


def test_readme_configuration_table_matches_the_declarations() -> None:
    expected = expected_rows()
    # On failure the assertion shows the rows to paste into README.md.
    assert readme_rows() == expected, "\n" + "\n".join([HEADER, *expected])


def test_every_variable_is_declared_once() -> None:
    variables = [setting.variable for setting in SETTINGS]
    assert len(set(variables)) == len(variables)


def retry_figures() -> dict[str, str]:
    """Each `NAME`: figure the README's retry table quotes, as written."""
    section = README.read_text(encoding="utf-8").split("\n### Where the retry policy lives\n")[1]
    section = section.split("\n## ", 1)[0]
    quoted = re.findall(r"`([A-Z_]+)`: ([^;|]+?)(?:, full jitter|, no jitter)?\s*[;|]", section)
    return dict(quoted)


def written(figure: Backoff | int) -> str:
    if isinstance(figure, int):
        return str(figure)
    return f"{figure.first_seconds:g} s doubling to {figure.cap_seconds:g} s"


def test_readme_retry_table_quotes_every_figure_of_the_retry_policy() -> None:
    policy = {
        name: written(value)
        for name, value in vars(retry_policy).items()
        if name.isupper() and isinstance(value, Backoff | int)
    }
    assert retry_figures() == policy
