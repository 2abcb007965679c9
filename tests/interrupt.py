"""Ctrl-C for a scratch-table tool (`python -m calibrate`, `python -m preflight`) run in a
process of its own: started, interrupted once its table exists and it has got going."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    process = subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
