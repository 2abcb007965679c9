"""Counts what landed in PostgreSQL against what was sent and what the consumer acknowledged."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from local.stack import LocalDataApi


@dataclass(frozen=True)
class Landing:
    """One target's table compared with the queue."""

    rows: int
    lost: int  # acknowledged (deleted from the queue) but not in the table
    duplicated: int  # rows beyond the first for a message
    foreign: int  # rows of no message we sent
    landed_unacknowledged: int  # in the table while the message is still queued


def count_rows(api: LocalDataApi, target: str, database: str, table: str) -> Counter[str]:
    query = f"SELECT sqs_message_id, count(*) FROM {table} GROUP BY 1"  # noqa: S608
    with api.connect(target, database) as conn:
        return Counter({str(mid): int(n) for mid, n in conn.execute(query).fetchall()})


def compare(per_message: Counter[str], sent: set[str], acknowledged: set[str]) -> Landing:
    present = set(per_message)
    return Landing(
        rows=sum(per_message.values()),
        lost=len(acknowledged - present),
        duplicated=sum(n - 1 for n in per_message.values() if n > 1),
        foreign=len(present - sent),
        landed_unacknowledged=len((present & sent) - acknowledged),
    )
