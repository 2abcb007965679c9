"""The loop in front of each instance: receive a batch, invoke, delete what succeeded."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.instances import Invocation
from bench.sqs import SimulatedQueue


class Invoker(Protocol):
    """What a poller hands a batch to: an instance process, or the Firehose forwarder."""

    def invoke(self, records: list[dict[str, Any]]) -> Invocation: ...


@dataclass
class Tally:
    """What the instances of one design reported, summed over invocations."""

    invocations: int = 0
    records: int = 0
    cpu_seconds: float = 0.0
    billed_ms: int = 0  # invocations' wall time, each rounded up to 1 ms as Lambda bills it
    api_calls: Counter[str] = field(default_factory=Counter)  # Data API requests sent
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, invocation: Invocation, records: int, seconds: float = 0.0) -> None:
        with self._lock:
            self.invocations += 1
            self.billed_ms += math.ceil(seconds * 1000)
            self.records += records
            self.cpu_seconds += invocation.cpu_seconds
            self.api_calls.update(invocation.api_calls)
            if invocation.error is not None:
                self.errors.append(invocation.error)


@dataclass(frozen=True)
class PollerConfig:
    batch_size: int
    batching_window: float
    pause_seconds: float


def poll(
    queue: SimulatedQueue,
    instance: Invoker,
    config: PollerConfig,
    stop: threading.Event,
    tally: Tally,
) -> None:
    """One Lambda poller (or one old worker's own loop) until `stop`; the current batch finishes.

    Messages not deleted (returned as failures, or the whole batch when it raised) stay
    invisible for the visibility timeout and then come back: SQS's retry, not ours.
    """
    while not stop.is_set():
        batch = queue.receive(config.batch_size, config.batching_window, stop)
        if not batch:
            continue
        started = time.monotonic()
        invocation = instance.invoke([item.record for item in batch])
        took = time.monotonic() - started
        queue.delete([item for item in batch if item.message_id not in invocation.failed])
        tally.add(invocation, len(batch), took)
        if config.pause_seconds:
            stop.wait(config.pause_seconds)


def start_pollers(
    queue: SimulatedQueue,
    instances: Sequence[Invoker],
    config: PollerConfig,
    stop: threading.Event,
    tally: Tally,
) -> list[threading.Thread]:
    threads = [
        threading.Thread(
            target=poll,
            args=(queue, instance, config, stop, tally),
            name=f"poller-{index}",
            daemon=True,
        )
        for index, instance in enumerate(instances)
    ]
    for thread in threads:
        thread.start()
    return threads
