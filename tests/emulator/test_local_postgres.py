"""The throwaway PostgreSQL: where its binaries come from, who runs it, and its clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.pgbin import (
    EMBEDDED_SOURCE,
    NO_SYSTEM_ENV,
    PG_BIN_ENV,
    PostgresNotFoundError,
    find_binaries,
)
from local.postgres import PostgresServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]


def test_pg_bin_must_hold_a_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    with pytest.raises(PostgresNotFoundError):
        find_binaries()


def test_pg_bin_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = find_binaries().bindir
    monkeypatch.setenv(PG_BIN_ENV, str(bindir))
    assert (find_binaries().bindir, find_binaries().source) == (bindir, PG_BIN_ENV)


def test_the_embedded_server_from_pypi_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a machine without PostgreSQL gets: the embedded wheel's binaries, run by our launcher.
    monkeypatch.delenv(PG_BIN_ENV, raising=False)
    monkeypatch.setenv(NO_SYSTEM_ENV, "1")
    binaries = find_binaries()
    assert binaries.source == EMBEDDED_SOURCE

    with PostgresServer(binaries) as pg:
        pg.create_database("probe")
        with pg.connect("probe") as conn:
            listen, data_directory = conn.execute(
                "SELECT current_setting('listen_addresses'), current_setting('data_directory')"
            ).fetchone() or ("", "")
        root = pg.log_path.parent
        # initdb refuses root, so as root the server runs as an unprivileged account.
        owner = Path(data_directory).stat().st_uid
        assert owner != 0 if os.geteuid() == 0 else owner == os.geteuid()
    assert listen == "127.0.0.1"
    assert not root.exists()


def test_the_server_goes_when_its_owner_is_killed() -> None:
    script = (
        "import time\n"
        "from local.postgres import PostgresServer\n"
        "pg = PostgresServer().start()\n"
        "print(pg._process.pid, pg.log_path.parent, flush=True)\n"
        "time.sleep(120)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    pid_text, root_text = owner.stdout.readline().split()
    postgres_pid, root = int(pid_text), Path(root_text)
    assert root.exists()

    owner.send_signal(signal.SIGKILL)  # no atexit, no finally: only the watchdog is left
    owner.wait()

    deadline = time.monotonic() + 30
    while (_alive(postgres_pid) or root.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(postgres_pid)
    assert not root.exists()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has stopped; only its parent can reap it
