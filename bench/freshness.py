"""Freshness: from a message's SendMessage to the commit that made its row queryable, read from
the emulator's commit records (each carries its PostgreSQL transaction id, which PostgreSQL
stamps on every row it wrote as xmin), never from what a design reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from local.cluster import CommitRecord
from local.stack import LocalDataApi

QUANTILES = (0.5, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class Freshness:
    """Seconds from send to commit, per message sent; a message whose row had not committed
    by the window's end counts as infinitely stale (the design fell behind)."""

    sent: int
    committed: int  # messages whose row committed within the window
    p50: float
    p95: float
    p99: float
    max: float

    @property
    def missing(self) -> int:
        return self.sent - self.committed


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return math.inf
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def first_commits(
    stamps: Iterable[tuple[str, int]], commits: Iterable[CommitRecord], until: float
) -> dict[str, float]:
    """When each message's row first became queryable: its earliest commit within the window.
    `stamps` are (sqs_message_id, xmin) of each row; a message in several rows (a duplicate)
    counts from its first."""
    ended = {c.transaction_id: c.ended_at for c in commits if c.ended_at <= until}
    first: dict[str, float] = {}
    for message_id, xmin in stamps:
        at = ended.get(xmin)
        if at is not None and at < first.get(message_id, math.inf):
            first[message_id] = at
    return first


def measure(sent_at: Mapping[str, float], committed_at: Mapping[str, float]) -> Freshness:
    ages = sorted(
        committed_at[m] - sent if m in committed_at else math.inf for m, sent in sent_at.items()
    )
    p50, p95, p99, top = (quantile(ages, q) for q in QUANTILES)
    committed = sum(1 for m in sent_at if m in committed_at)
    return Freshness(len(sent_at), committed, p50, p95, p99, top)


def row_stamps(api: LocalDataApi, target: str, database: str, table: str) -> list[tuple[str, int]]:
    query = f"SELECT sqs_message_id, xmin::text FROM {table}"  # noqa: S608 (our identifier)
    with api.connect(target, database) as conn:
        return [(str(mid), int(xmin)) for mid, xmin in conn.execute(query).fetchall()]
