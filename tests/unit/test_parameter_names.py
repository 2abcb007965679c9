"""The table of parameter names the INSERT renderer indexes: the names `parameter_name` gives,
built at once, and built only when a render first needs it (not at import: a cold start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ingest
from ingest.names import GUARD, NAMES_PER_LETTER, parameter_name, parameter_names

# Where this run imports the package from (src/handler, or mutmut's staged copy).
PACKAGE_HOME = Path(ingest.__file__).resolve().parents[1]


@pytest.mark.parametrize("letter", ["p", GUARD])
def test_the_table_holds_the_names_parameter_name_gives_in_order(letter: str) -> None:
    assert parameter_names(NAMES_PER_LETTER, letter) == tuple(
        parameter_name(n, letter) for n in range(NAMES_PER_LETTER)
    )


def test_the_last_name_of_a_letter_is_its_highest_number_and_one_more_is_refused() -> None:
    assert parameter_name(NAMES_PER_LETTER - 1) == "pzzz"
    assert parameter_name(0, GUARD) == "g000"
    for number in (-1, NAMES_PER_LETTER):
        # The message says which numbers exist: 0..46655, the last name above.
        with pytest.raises(ValueError, match=rf"^parameter number {number} is outside 0\.\.46655$"):
            parameter_name(number)


def test_the_table_stops_at_the_count_asked_for() -> None:
    assert parameter_names(0) == ()
    assert parameter_names(37) == (*(parameter_name(n) for n in range(36)), "p010")


@pytest.mark.parametrize("count", [-1, NAMES_PER_LETTER + 1])
def test_a_count_no_letter_has_names_for_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="parameter names asked for"):
        parameter_names(count)


def test_importing_the_renderer_builds_no_name_table_and_a_render_builds_it_once() -> None:
    # In a fresh interpreter: this one has rendered already.
    probe = (
        "from ingest import sql\n"
        "assert sql._names.cache_info().currsize == 0, 'built at import'\n"
        "first = sql._names()\n"
        "assert sql._names() is first and len(first) == 32_767 + 1_600\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_HOME)}
    subprocess.run([sys.executable, "-c", probe], env=env, check=True)
