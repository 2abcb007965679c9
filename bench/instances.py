"""Worker processes, one per simulated function instance (or old worker), driven over pipes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Protocol, Self

import boto3
from botocore.config import Config

from bench.function import FunctionConfig, FunctionInstance
from bench.legacy import LegacyConfig, LegacyWorker
from bench.pipes import PipesConfig, PipeTarget

# A process per instance: each has its own interpreter and GIL, as Lambda instances and pm2
# workers do. The fork server imports boto3 and the handler once; each instance forks from it.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["bench.instances"])
_START_SECONDS = 60.0  # to start and import; far more than a fork needs
_REPLY_SECONDS = 300.0  # an invocation's answer; longer than any function timeout used here

InstanceConfig = LegacyConfig | FunctionConfig | PipesConfig


class _Consumer(Protocol):
    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]: ...


@dataclass(frozen=True)
class Invocation:
    """What one invocation sent back: the ids not to delete, and what it cost."""

    failed: frozenset[str]
    cpu_seconds: float  # the instance process's CPU for this invocation, SDK work included
    api_calls: dict[str, int]  # Data API requests sent, per operation (every attempt)
    error: str | None = None  # an unexpected exception: a bug, counted as a failed batch


class _CallCounter:
    """Counts the Data API requests this process sends, per operation, from the SDK's own
    events: each design's calls are counted apart although several designs share the local
    Data API at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the function and the old workers call from threads
        self._calls: Counter[str] = Counter()
        boto3.setup_default_session()  # what boto3.client() builds its clients from
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-send.redshift-data", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self._calls[event_name.rsplit(".", 1)[-1]] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)


def _build(config: InstanceConfig) -> _Consumer:
    if isinstance(config, FunctionConfig):
        return FunctionInstance(config)
    # The AWS SDK's default: standard retries, 3 attempts (the quota error is not retried);
    # what a pipe's own client retries is not documented: the same (unverified).
    client = boto3.client(
        "redshift-data", config=Config(retries={"mode": "standard", "max_attempts": 3})
    )
    if isinstance(config, PipesConfig):
        return PipeTarget(config, client)
    return LegacyWorker(config, client)


def _serve(conn: Connection, environment: dict[str, str]) -> None:
    """The instance's loop: configure, then invoke until told to stop."""
    os.environ.update(environment)
    os.environ.pop("AWS_PROFILE", None)
    counter = _CallCounter()
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
        calls_before = counter.snapshot()
        try:
            assert consumer is not None, "invoked before configure"
            failed, error = frozenset(consumer.handle(records)), None
        except Exception:
            failed = frozenset(str(r["messageId"]) for r in records)
            error = traceback.format_exc()
        calls = counter.snapshot() - calls_before
        conn.send(Invocation(failed, time.process_time() - started, dict(calls), error))


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

    def configure(
        self, counts_and_configs: Sequence[tuple[int, InstanceConfig]]
    ) -> list[list[Instance]]:
        """Consecutive groups of instances, the first `count` for the first config and so on,
        each (re)built for its config."""
        needed = sum(count for count, _ in counts_and_configs)
        if needed > len(self.instances):
            raise ValueError(f"{needed} instances asked for; the pool has {len(self.instances)}")
        groups: list[list[Instance]] = []
        start = 0
        for count, config in counts_and_configs:
            chosen = self.instances[start : start + count]
            start += count
            for instance in chosen:
                instance.configure(config)
            groups.append(chosen)
        return groups

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
