"""Worker processes, one per simulated function instance (or old worker), driven over pipes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Protocol, Self

import boto3
from botocore.config import Config

from bench.function import FunctionConfig, FunctionInstance
from bench.legacy import LegacyConfig, LegacyWorker

# A process per instance: each has its own interpreter and GIL, as Lambda instances and pm2
# workers do. The fork server imports boto3 and the handler once; each instance forks from it.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["bench.instances"])
_START_SECONDS = 60.0  # to start and import; far more than a fork needs
_REPLY_SECONDS = 300.0  # an invocation's answer; longer than any function timeout used here

InstanceConfig = LegacyConfig | FunctionConfig


class _Consumer(Protocol):
    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]: ...


@dataclass(frozen=True)
class Invocation:
    """What one invocation sent back: the ids not to delete, and what it cost."""

    failed: frozenset[str]
    cpu_seconds: float  # the instance process's CPU for this invocation, SDK work included
    error: str | None = None  # an unexpected exception: a bug, counted as a failed batch


def _build(config: InstanceConfig) -> _Consumer:
    if isinstance(config, FunctionConfig):
        return FunctionInstance(config)
    # The AWS SDK's default: standard retries, 3 attempts (the quota error is not retried).
    client = boto3.client(
        "redshift-data", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )
    return LegacyWorker(config, client)


def _serve(conn: Connection, environment: dict[str, str]) -> None:
    """The instance's loop: configure, then invoke until told to stop."""
    os.environ.update(environment)
    os.environ.pop("AWS_PROFILE", None)
    consumer: _Consumer | None = None
    conn.send("ready")
    while True:
        kind, payload = conn.recv()
        if kind == "stop":
            return
        if kind == "configure":
            consumer = _build(payload)
            conn.send("configured")
            continue
        records: list[dict[str, Any]] = payload
        started = time.process_time()
        try:
            assert consumer is not None, "invoked before configure"
            failed, error = frozenset(consumer.handle(records)), None
        except Exception:
            failed = frozenset(str(r["messageId"]) for r in records)
            error = traceback.format_exc()
        conn.send(Invocation(failed, time.process_time() - started, error))


class Instance:
    """The parent's handle on one worker process."""

    def __init__(self, index: int, environment: Mapping[str, str]) -> None:
        self._conn, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=_serve,
            args=(child, dict(environment)),
            name=f"bench-instance-{index}",
            daemon=True,
        )
        self._process.start()
        child.close()

    def _reply(self, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while not self._conn.poll(0.5):
            if not self._process.is_alive():
                raise RuntimeError(f"{self._process.name} died (exit {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._process.name} gave no answer in {seconds:.0f} s")
        return self._conn.recv()

    def wait_ready(self) -> None:
        self._reply(_START_SECONDS)

    def configure(self, config: InstanceConfig) -> None:
        self._conn.send(("configure", config))
        self._reply(_START_SECONDS)

    def invoke(self, records: list[dict[str, Any]]) -> Invocation:
        self._conn.send(("invoke", records))
        reply: Invocation = self._reply(_REPLY_SECONDS)
        return reply

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # the pipe may already be gone
                self._conn.send(("stop", None))
            self._process.join(5.0)
        if self._process.is_alive():
            self._process.terminate()  # this process is ours: stop it by its handle
            self._process.join(5.0)
        self._conn.close()


class InstancePool:
    """`count` worker processes, started together, each with the AWS endpoint environment."""

    def __init__(self, count: int, environment: Mapping[str, str]) -> None:
        self.instances: list[Instance] = []
        try:
            self.instances = [Instance(i, environment) for i in range(count)]
            for instance in self.instances:
                instance.wait_ready()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def configure(self, count: int, config: InstanceConfig) -> list[Instance]:
        """The first `count` instances, each (re)built for `config`."""
        if count > len(self.instances):
            raise ValueError(f"{count} instances asked for; the pool has {len(self.instances)}")
        chosen = self.instances[:count]
        for instance in chosen:
            instance.configure(config)
        return chosen

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
