"""`make mutation`: mutmut over modules of src/handler with the unit tests only, and the score.

mutmut names each mutant after its file's path (less a leading `src/`) and matches that name with
the module the tests import. Ours import `ingest.records` from src/handler, so the run happens in
a staging directory (.mutation/) whose src/ is a copy of src/handler; the sources stay untouched.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/handler")
STAGING = ROOT / ".mutation"
UNIT_TESTS = "tests/unit"
# What the unit tests read besides the package: their helpers, the emulator's doubles, the DDL.
COPIED = ("tests", "local", "sql")

_CONFIG = """\
[tool.mutmut]
source_paths = ["src"]
only_mutate = {only_mutate}
also_copy = {also_copy}
pytest_add_cli_args_test_selection = ["{unit_tests}"]
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


def stage(modules: list[str]) -> None:
    """A fresh .mutation/: the package as src/, what the tests need, and mutmut's settings."""
    only_mutate = [_staged(module) for module in modules]
    shutil.rmtree(STAGING, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / PACKAGE, STAGING / "src", ignore=ignore)
    for name in COPIED:
        shutil.copytree(ROOT / name, STAGING / name, ignore=ignore)
    config = _CONFIG.format(
        only_mutate=json.dumps(only_mutate),
        also_copy=json.dumps([name for name in COPIED if name != "tests"]),
        unit_tests=UNIT_TESTS,
    )
    (STAGING / "pyproject.toml").write_text(config, encoding="utf-8")


def _mutmut(*args: str) -> None:
    # The console script, not `python -m mutmut`: mutmut warns that the latter breaks its imports.
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        raise SystemExit(f"{mutmut} is missing: `make mutation` installs requirements-mutation.txt")
    subprocess.run([str(mutmut), *args], cwd=STAGING, check=True)  # noqa: S603 (our own argv)


def summary(stats: dict[str, int]) -> str:
    total = stats["total"]
    killed = stats["killed"]
    share = 100 * killed / total if total else 0.0
    others = ", ".join(
        f"{stats[name]} {name.replace('_', ' ')}"
        for name in ("timeout", "no_tests", "suspicious", "skipped", "segfault")
        if stats.get(name)
    )
    line = f"mutation: killed {killed}, survived {stats['survived']}, total {total}"
    return f"{line}{f' ({others})' if others else ''}: killed share {share:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+", help=f"Python files under {PACKAGE}/ to mutate")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--fail-under", type=float, default=0.0, help="exit 1 below this killed share (percent)"
    )
    args = parser.parse_args()
    stage(args.modules)
    _mutmut("run", "--max-children", str(args.jobs))
    _mutmut("export-cicd-stats")
    stats = json.loads((STAGING / "mutants" / "mutmut-cicd-stats.json").read_text())
    print(summary(stats))
    print(f"survivors: cd {STAGING.relative_to(ROOT)} && ../.venv/bin/mutmut results (or browse)")
    share = 100 * stats["killed"] / stats["total"] if stats["total"] else 0.0
    return 1 if share < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
