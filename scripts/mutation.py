"""`make mutation`: mutmut over modules of src/handler with the unit tests only, and the score.

mutmut names each mutant after its file's path (less a leading `src/`) and matches that name with
the module the tests import. Ours import `ingest.records` from src/handler, so the run happens in
a staging directory (.mutation/) whose src/ is a copy of src/handler; the sources stay untouched.
Everything else the repository holds is staged beside it, as the tests see it in a checkout:
whatever they import (tests, local, scripts, ...) or read (sql, events, ...) is there, with no
list to keep in step with them.

    python -m scripts.mutation src/handler/ingest/records.py src/handler/ingest/sql.py
    cd .mutation && ../.venv/bin/mutmut browse     # then: the survivors, one by one
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/handler")
STAGING = ROOT / ".mutation"
UNIT_TESTS = "tests/unit"
# Staged by us, not copied: the package (as src/) and mutmut's settings (pyproject.toml).
_NOT_COPIED = frozenset({"src", "pyproject.toml"})

_CONFIG = """\
[tool.mutmut]
source_paths = ["src"]
only_mutate = {only_mutate}
also_copy = {also_copy}
pytest_add_cli_args_test_selection = {tests}
# mutmut runs pytest several times in one process: a module imported under the first run's
# output capture (Powertools' logger keeps the stdout it saw at import) would write to a closed
# stream in the next. Without capture it keeps mutmut's own; capsys still works.
pytest_add_cli_args = ["--capture=no"]

[tool.pytest.ini_options]
timeout = 60
"""


def _staged(path: str) -> str:
    """src/handler/ingest/sql.py -> src/ingest/sql.py (where the staging directory has it)."""
    relative = Path(path)
    if relative.is_absolute():
        relative = relative.relative_to(ROOT)
    if PACKAGE not in relative.parents or relative.suffix != ".py":
        raise SystemExit(f"{path}: mutation covers Python files under {PACKAGE}/ only")
    if not (ROOT / relative).is_file():
        raise SystemExit(f"{path}: no such file")
    return str(Path("src") / relative.relative_to(PACKAGE))


def repository_entries(root: Path = ROOT) -> list[str]:
    """The top-level files and directories of the checkout (tracked, or new and not ignored),
    without hidden ones and without what staging makes itself."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607 (git on PATH)
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    tops = {Path(line).parts[0] for line in listed if line}
    return sorted(
        top
        for top in tops
        if not top.startswith(".") and top not in _NOT_COPIED and (root / top).exists()
    )


def stage(staging: Path, modules: Sequence[str], tests: Sequence[str] = (UNIT_TESTS,)) -> None:
    """A fresh staging directory: the package as src/, the rest of the checkout, mutmut's
    settings."""
    only_mutate = [_staged(module) for module in modules]
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / PACKAGE, staging / "src", ignore=ignore)
    copied = repository_entries()
    for name in copied:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, staging / name, ignore=ignore)
        else:
            shutil.copy2(source, staging / name)
    config = _CONFIG.format(
        only_mutate=json.dumps(only_mutate),
        # mutmut copies these into its own mutants/ directory, where the tests run (tests/ it
        # copies by default).
        also_copy=json.dumps([name for name in copied if name != "tests"]),
        tests=json.dumps(list(tests)),
    )
    (staging / "pyproject.toml").write_text(config, encoding="utf-8")


def _mutmut(staging: Path, *args: str) -> None:
    # The console script, not `python -m mutmut`: mutmut warns that the latter breaks its imports.
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        raise SystemExit(f"{mutmut} is missing: `make mutation` installs requirements-mutation.txt")
    subprocess.run([str(mutmut), *args], cwd=staging, check=True)  # noqa: S603 (our own argv)


# mutmut's exit codes for a mutant's test run (mutmut/stats.py): 1 and 3 are kills, 0 a survivor,
# None a mutant not run (outside --mutants); anything else (no tests, timeout, ...) is neither.
_KILLED = frozenset({1, 3})
_SURVIVED = 0


def module_counts(exit_codes: Mapping[str, int | None]) -> Counter[str]:
    """killed / survived / other counts of one module's mutants that ran."""
    counts: Counter[str] = Counter(killed=0, survived=0, other=0)
    for code in exit_codes.values():
        if code is None:
            continue
        if code in _KILLED:
            counts["killed"] += 1
        elif code == _SURVIVED:
            counts["survived"] += 1
        else:
            counts["other"] += 1
    return counts


def killed_share(counts: Mapping[str, int]) -> float:
    """Percent killed of the mutants that ran (100 when none ran: nothing survived)."""
    ran = counts["killed"] + counts["survived"] + counts["other"]
    return 100 * counts["killed"] / ran if ran else 100.0


def summary(module: str, counts: Mapping[str, int]) -> str:
    others = f", {counts['other']} other (timeout, no tests, ...)" if counts["other"] else ""
    return (
        f"{module}: killed {counts['killed']}, survived {counts['survived']}{others}: "
        f"killed share {killed_share(counts):.1f}%"
    )


def _exit_codes(staging: Path, module: str) -> dict[str, int | None]:
    meta = staging / "mutants" / f"{_staged(module)}.meta"
    codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return codes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+", help=f"Python files under {PACKAGE}/ to mutate")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--tests",
        nargs="+",
        default=[UNIT_TESTS],
        help=f"the tests that try to kill the mutants (default {UNIT_TESTS})",
    )
    parser.add_argument(
        "--mutants",
        nargs="+",
        default=[],
        help="run only mutants whose names match these globs (e.g. 'ingest.names.x_*')",
    )
    parser.add_argument(
        "--staging",
        type=Path,
        default=STAGING,
        help=f"where to stage and run (default {STAGING.relative_to(ROOT)}/, emptied first)",
    )
    parser.add_argument(
        "--fail-under", type=float, default=0.0, help="exit 1 when a module is below this share"
    )
    args = parser.parse_args(argv)
    staging = args.staging.resolve()
    stage(staging, args.modules, args.tests)
    _mutmut(staging, "run", "--max-children", str(args.jobs), *args.mutants)
    shares = []
    for module in args.modules:
        counts = module_counts(_exit_codes(staging, module))
        print(summary(module, counts))
        shares.append(killed_share(counts))
    print(
        f"survivors: cd {staging} && {Path(sys.executable).parent / 'mutmut'} results (or browse)"
    )
    return 1 if min(shares) < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
