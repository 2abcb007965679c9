"""An SDK call that returns within its time, even from an endpoint that answers byte by byte.

botocore's read timeout bounds each socket read, not the call: a reply trickling one byte a
second keeps a call alive for as long as it trickles. Each call therefore runs on a thread of
its own and is given up at its time limit; a given-up call finishes (or times out) on its
thread, and its result is dropped. One thread per call rather than a pool: calls given up
during a slow spell can never leave later calls, to a healthy endpoint, queued behind them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from botocore.exceptions import ReadTimeoutError

T = TypeVar("T")


@dataclass
class _Outcome(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


def call_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result, or ReadTimeoutError once `seconds` have passed (the request may have
    reached the service: callers treat it as they treat a lost reply)."""
    outcome: _Outcome[T] = _Outcome()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # handed to the caller as it is, whatever it is
            outcome.error = exc
        finally:
            outcome.done.set()

    # A daemon: a call still hanging when the process ends must not keep it alive.
    threading.Thread(target=run, name="aws-call", daemon=True).start()
    if not outcome.done.wait(timeout=max(0.0, seconds)):
        raise ReadTimeoutError(endpoint_url="(the call's own time limit)")
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]  # set whenever error is not
