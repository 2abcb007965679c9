"""How a simulated cluster or workgroup performs, and the account's API rate limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from local.translate import BindMode


@dataclass(frozen=True)
class ClusterModel:
    """Capacity of one cluster or workgroup; None means no limit."""

    slots: int | None = 25  # statements running at once; the rest wait as SUBMITTED
    statements_per_second: float | None = 12.0  # commits are serialized at this rate
    latency_seconds: float = 0.05  # added to every statement's run time
    # SUBMITTED/PICKED/STARTED statements before submits are refused. AWS's quota pages say
    # 200 per cluster or workgroup; the old system was refused at 500 ("Active statements
    # exceeded the allowed quota (500)", README "Why this exists"): 500 by default,
    # and the emulator's quota tests run at both (QUOTAS).
    active_quota: int = 500


QUOTA_DOCUMENTED = 200
QUOTA_OBSERVED = 500
QUOTAS = (QUOTA_DOCUMENTED, QUOTA_OBSERVED)

# What the original team measured on an ra3.large: ~25 query slots, 10-15 small INSERTs/s.
RA3_LARGE = ClusterModel()
# For tests: no queueing, no rate ceiling, no added latency; only the quota stays.
FAST = ClusterModel(slots=None, statements_per_second=None, latency_seconds=0.0)


@dataclass(frozen=True)
class ServiceConfig:
    """Service-wide rules that are not per cluster."""

    max_query_bytes: int = 100 * 1024  # "Cannot process query string larger than 100kB"
    # AWS does not say whether parameter values count towards the 100 KB; True counts them.
    size_limit_counts_parameters: bool = False
    max_parameters: int = 32767
    max_batch_statements: int = 40
    result_page_rows: int = 1000
    # Statements run at once per cluster even when its model has no slot limit: each holds a
    # PostgreSQL connection.
    max_running_per_cluster: int = 64
    # Finished statements keep their QueryParameters only this many at a time: a benchmark's
    # thousands of 10,000-parameter INSERTs would otherwise hold gigabytes.
    detail_retention: int = 100
    # Throttling per operation (calls per second, burst of one second's worth); empty: none.
    throttle: dict[str, float] = field(default_factory=dict)
    # How a parameter name used twice is bound (see Translation.bind): undocumented by AWS.
    bind_mode: BindMode = "per-occurrence"


class RateLimiter:
    """Token buckets per operation, for ThrottlingException."""

    def __init__(self, limits: dict[str, float] | None = None) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, float] = {}
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self.configure(limits or {})

    def configure(self, limits: dict[str, float]) -> None:
        with self._lock:
            self._limits = dict(limits)
            self._tokens = {op: max(rate, 1.0) for op, rate in limits.items()}
            self._stamp = {op: time.monotonic() for op in limits}

    def allow(self, operation: str) -> bool:
        with self._lock:
            rate = self._limits.get(operation)
            if rate is None:
                return True
            now = time.monotonic()
            burst = max(rate, 1.0)
            tokens = min(burst, self._tokens[operation] + (now - self._stamp[operation]) * rate)
            self._stamp[operation] = now
            if tokens < 1.0:
                self._tokens[operation] = tokens
                return False
            self._tokens[operation] = tokens - 1.0
            return True
