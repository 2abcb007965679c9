"""`make mutation` stays runnable: a real mutmut run from a staging directory built the way the
full run builds it, on one small module with the tests that cover it (seconds, not minutes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from scripts.mutation import ROOT, repository_entries


def test_staging_copies_the_checkout_the_tests_import_and_read() -> None:
    entries = repository_entries()
    # What the unit tests import (tests, local, scripts) or read (sql) is there, found, not listed.
    assert {"tests", "local", "scripts", "sql"} <= set(entries)
    # The package is staged as src/ and the settings are mutmut's own; nothing hidden is copied.
    assert "src" not in entries
    assert "pyproject.toml" not in entries
    assert not any(entry.startswith(".") for entry in entries)


def test_a_mutation_run_kills_the_mutants_of_a_small_module(tmp_path: Path) -> None:
    mutmut = Path(sys.executable).parent / "mutmut"
    assert mutmut.exists(), f"{mutmut} is missing: `make test` installs requirements-mutation.txt"

    # When make mutation's script mutates ingest/names.py against its own unit tests
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.mutation",
            "src/handler/ingest/names.py",
            "--tests",
            "tests/unit/test_parameter_names.py",
            "--staging",
            str(tmp_path / "staging"),
            "--jobs",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then mutants ran, and the report gives the module's score
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    score = re.search(
        r"src/handler/ingest/names\.py: killed (\d+), survived (\d+).*killed share ([\d.]+)%",
        result.stdout,
    )
    assert score is not None, result.stdout[-3000:]
    killed, survived, share = int(score[1]), int(score[2]), float(score[3])
    assert killed > 0
    assert share >= 90.0, f"{survived} survivors: {result.stdout[-3000:]}"
