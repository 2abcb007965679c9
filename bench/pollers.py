"""The loop in front of each instance: receive a batch, invoke, delete what succeeded."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from bench.instances import Instance, Invocation
from bench.sqs import SimulatedQueue


@dataclass
class Tally:
    """What the instances of one design reported, summed over invocations."""

    invocations: int = 0
    records: int = 0
    cpu_seconds: float = 0.0
    api_calls: Counter[str] = field(default_factory=Counter)  # Data API requests sent
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, invocation: Invocation, records: int) -> None:
        with self._lock:
            self.invocations += 1
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
    instance: Instance,
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
        invocation = instance.invoke([item.record for item in batch])
        queue.delete([item for item in batch if item.message_id not in invocation.failed])
        tally.add(invocation, len(batch))
        if config.pause_seconds:
            stop.wait(config.pause_seconds)


def start_pollers(
    queue: SimulatedQueue,
    instances: list[Instance],
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
