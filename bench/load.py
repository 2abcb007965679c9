"""A producer that sends messages at a steady rate, as SendMessageBatch calls every tick."""

from __future__ import annotations

import threading
import time

from bench.sqs import SimulatedQueue

_TICK_SECONDS = 0.05


class Producer:
    """Sends `rate` messages/s from `bodies` (in order, cycling) for `seconds`."""

    def __init__(self, queue: SimulatedQueue, bodies: list[str], rate: float, seconds: float):
        self._queue = queue
        self._bodies = bodies
        self._rate = rate
        self._seconds = seconds
        self.sent: set[str] = set()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def finished(self) -> bool:
        return self._done.is_set()

    def _run(self) -> None:
        started = time.monotonic()
        total = round(self._rate * self._seconds)
        count = 0
        try:
            while count < total and not self._stop.is_set():
                due = min(total, int((time.monotonic() - started) * self._rate) + 1)
                if due > count:
                    chunk = [self._bodies[i % len(self._bodies)] for i in range(count, due)]
                    self.sent.update(self._queue.send_many(chunk))
                    count = due
                self._stop.wait(_TICK_SECONDS)
        finally:
            self._done.set()
