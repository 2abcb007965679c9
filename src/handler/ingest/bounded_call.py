"""An SDK call that returns within its time, even from an endpoint that answers byte by byte.

botocore's read timeout bounds each socket read, not the call: a reply trickling one byte a
second keeps a call alive for as long as it trickles. Each call therefore runs on a worker
thread and is given up at its own time limit; an abandoned call finishes (or times out) on its
thread, and its result is dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from botocore.exceptions import ReadTimeoutError

T = TypeVar("T")

# Enough for both targets' calls and a few abandoned ones; more abandoned calls than this
# means every endpoint is crawling, and calls then time out while queued (bounded all the same).
_WORKERS = 16


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="aws-call")


def call_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result, or ReadTimeoutError once `seconds` have passed (the request may have
    reached the service: callers treat it as they treat a lost reply)."""
    future = _pool().submit(call)
    try:
        return future.result(timeout=max(0.0, seconds))
    except FutureTimeout:
        future.cancel()  # not started yet: never send it
        raise ReadTimeoutError(endpoint_url="(the call's own time limit)") from None
