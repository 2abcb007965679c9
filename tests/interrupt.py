"""Ctrl-C for a command run in a process of its own (`python -m calibrate`, `python -m preflight`,
`python -m demo.run`, `python -m local.server`): started so that SIGINT reaches it as it would
from a terminal, and interrupted once it has got going."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def _sigint_default_in_children() -> Iterator[None]:
    # A run started under nohup, with `&` by a non-interactive shell, or under `trap '' INT`
    # has SIGINT ignored, and an ignored signal stays ignored across exec: the child would never
    # see Ctrl-C. A caught signal is reset to its default action instead (POSIX exec: "Signals
    # set to be caught by the calling process image shall be set to the default action in the
    # new process image", https://pubs.opengroup.org/onlinepubs/9699919799/functions/exec.html),
    # and Python then installs its KeyboardInterrupt handler. So SIGINT is caught here, only while
    # the child starts and only when this process ignores it.
    before = signal.getsignal(signal.SIGINT)
    if before is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def start_interruptible(argv: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
    """`subprocess.Popen(argv, text=True, **popen)` whose process takes SIGINT as from a
    terminal, whatever disposition this test run inherited."""
    with _sigint_default_in_children():
        return subprocess.Popen(argv, text=True, **popen)


def interrupt_once_table_exists(
    module: str,
    arguments: Sequence[str],
    tables: Callable[[], list[str]],
    *,
    running_seconds: float,
    exit_timeout: float,
) -> tuple[int, str]:
    """Run `python -m module arguments`, send SIGINT `running_seconds` after `tables()` lists
    its scratch table, and return its exit code and output."""
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src' / 'handler'}{os.pathsep}{REPO}")
    process = start_interruptible(
        [sys.executable, "-m", module, *arguments],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not tables() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tables(), "the scratch table never appeared"
        time.sleep(running_seconds)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=exit_timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, output
