"""A throwaway PostgreSQL server in a temp directory on a free loopback port."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg
from psycopg import sql

from local.pgbin import PgBinaries, find_binaries

log = logging.getLogger(__name__)

# initdb and postgres refuse to run as root; this names the account they run as instead.
RUN_AS_ENV = "LOCAL_PG_USER"
_DEFAULT_RUN_AS = "nobody"
_SUPERUSER = "postgres"
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0

# Durability is pointless for a throwaway server, and turning it off makes commits cheap, so
# the cluster model (not the disk) sets the pace.
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "timezone": "UTC",
    "datestyle": "ISO, MDY",
    "unix_socket_directories": "",
    "log_min_messages": "warning",
}

# Runs beside the server and stops it if this process dies without cleaning up (SIGKILL,
# os._exit): its stdin is a pipe whose only writer is this process, so EOF means we are gone.
_WATCHDOG = """
import os, shutil, signal, sys, time
pid, root = int(sys.argv[1]), sys.argv[2]
if sys.stdin.buffer.read() == b"stopped":
    sys.exit(0)
try:
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        os.kill(pid, 0)
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
except ProcessLookupError:
    pass
shutil.rmtree(root, ignore_errors=True)
"""


class PostgresStartError(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _make_world_readable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            extra = 0o555 if path.is_dir() or os.access(path, os.X_OK) else 0o444
            path.chmod(path.stat().st_mode | extra)


class _RunAs:
    """The unprivileged account the server runs as when we are root (None: run as ourselves)."""

    def __init__(self) -> None:
        self.account: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            name = os.environ.get(RUN_AS_ENV, _DEFAULT_RUN_AS)
            try:
                self.account = pwd.getpwnam(name)
            except KeyError:
                raise PostgresStartError(
                    f"PostgreSQL cannot run as root and there is no account {name!r} to run it "
                    f"as: create one or set {RUN_AS_ENV}"
                ) from None

    def popen_kwargs(self) -> dict[str, Any]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def give(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def can_run(self, binary: Path) -> bool:
        try:
            subprocess.run(
                [str(binary), "--version"],
                capture_output=True,
                check=True,
                timeout=30,
                **self.popen_kwargs(),
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return True


class PostgresServer:
    """Start with `with PostgresServer() as pg:`; stopped and deleted on exit (or at exit)."""

    def __init__(self, binaries: PgBinaries | None = None, host: str = "127.0.0.1") -> None:
        self.binaries = binaries or find_binaries()
        self.host = host
        self.port = 0
        self.user = _SUPERUSER
        self.password = secrets.token_urlsafe(16)
        self._root: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        assert self._root is not None
        return self._root / "postgres.log"

    def conninfo(self, dbname: str = "postgres") -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(dbname), autocommit=autocommit)

    def start(self) -> Self:
        if self._process is not None:
            return self
        run_as = _RunAs()
        self._root = Path(tempfile.mkdtemp(prefix="local-pg-"))
        atexit.register(self.stop)
        try:
            self._root.chmod(0o755)
            binaries = self._usable_binaries(run_as)
            self._initdb(binaries, run_as)
            self._launch(binaries, run_as)
        except BaseException:
            self.stop()
            raise
        log.info("PostgreSQL (%s) listening on %s:%d", self.binaries.source, self.host, self.port)
        return self

    def _usable_binaries(self, run_as: _RunAs) -> PgBinaries:
        if run_as.can_run(self.binaries.postgres):
            return self.binaries
        # The unprivileged account cannot reach them (e.g. a virtualenv under /root): run a copy.
        # Only relocatable installs (the embedded wheel's) survive a copy; the system's are
        # always readable.
        assert self._root is not None
        install = self.binaries.bindir.parent
        # Wheels find their bundled libraries through an RPATH relative to the binaries
        # ($ORIGIN/../../../<package>.libs): keep that layout from site-packages down.
        anchor = install.parent.parent
        copy = self._root / "pginstall"
        for part in ("bin", "lib", "share"):
            if (install / part).is_dir():
                shutil.copytree(
                    install / part, copy / install.relative_to(anchor) / part, symlinks=True
                )
        for libs in anchor.glob("*.libs"):
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        _make_world_readable(copy)
        copied = PgBinaries(
            copy / install.relative_to(anchor) / "bin", f"{self.binaries.source}, copied"
        )
        if not run_as.can_run(copied.postgres):
            raise PostgresStartError(
                f"{self.binaries.postgres} cannot be run by the unprivileged account "
                f"({os.environ.get(RUN_AS_ENV, _DEFAULT_RUN_AS)}; set {RUN_AS_ENV})"
            )
        return copied

    def _initdb(self, binaries: PgBinaries, run_as: _RunAs) -> None:
        assert self._root is not None
        data = self._root / "data"
        data.mkdir(mode=0o700)
        run_as.give(data)
        pwfile = self._root / "pwfile"
        pwfile.write_text(self.password)
        run_as.give(pwfile)
        try:
            subprocess.run(
                [
                    str(binaries.initdb),
                    "--pgdata",
                    str(data),
                    "--username",
                    self.user,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",
                ],
                cwd=self._root,
                capture_output=True,
                check=True,
                timeout=120,
                **run_as.popen_kwargs(),
            )
        except subprocess.CalledProcessError as exc:
            output = (exc.stdout + exc.stderr).decode(errors="replace")
            raise PostgresStartError(f"initdb failed:\n{output}") from exc
        finally:
            pwfile.unlink()

    def _launch(self, binaries: PgBinaries, run_as: _RunAs) -> None:
        assert self._root is not None
        # A port picked free can be taken before postgres binds it: try a few.
        for _attempt in range(5):
            self.port = _free_port(self.host)
            settings = {**_SERVER_SETTINGS, "listen_addresses": self.host, "port": str(self.port)}
            argv = [str(binaries.postgres), "-D", str(self._root / "data")]
            for name, value in settings.items():
                argv += ["-c", f"{name}={value}"]
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (lives as long as the server)
            self._process = subprocess.Popen(
                argv,
                cwd=self._root,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                process_group=0,  # a Ctrl-C in the terminal is ours to handle, not the server's
                **run_as.popen_kwargs(),
            )
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, str(self._process.pid), str(self._root)],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
            if self._wait_ready():
                return
            self._terminate()
            if "could not bind" not in self._log_tail():
                break
        raise PostgresStartError(f"PostgreSQL did not start:\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=5):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back and disconnect clients
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                watchdog.stdin.write(b"stopped")
                watchdog.stdin.close()
            watchdog.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Stop the server and delete its files; safe to call twice."""
        self._terminate()
        root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
        atexit.unregister(self.stop)

    def create_database(self, name: str, template: str | None = None) -> None:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(statement)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def database_exists(self, name: str) -> bool:
        with self.connect() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            return row is not None
