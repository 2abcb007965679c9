"""The range of sort-key values a batch's rows span, widened: look-ups read through the sort
key's zone maps (Redshift skips every block outside the range) instead of the whole table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ingest.records import Row

# The sort-key window is widened by this much on each side: a row is found even if an earlier
# release of the function normalised its timestamp differently (offsets, say).
SORT_KEY_SLACK = timedelta(days=1)


def sort_key_window(rows: Sequence[Row], sort_key_index: int | None) -> tuple[str, str] | None:
    if sort_key_index is None:
        return None
    stamps: list[datetime] = []
    for row in rows:
        value = row.values[sort_key_index]
        if not isinstance(value, str):
            return None  # a row without a sort-key value: the whole table must be asked
        try:
            stamps.append(datetime.fromisoformat(value))
        except ValueError:
            return None
    if not stamps:
        return None
    # Clamped before the arithmetic: 0001-01-01 minus a day does not exist.
    low, high = min(stamps), max(stamps)
    low = low - SORT_KEY_SLACK if low - datetime.min > SORT_KEY_SLACK else datetime.min
    high = high + SORT_KEY_SLACK if datetime.max - high > SORT_KEY_SLACK else datetime.max
    return low.isoformat(sep=" "), high.isoformat(sep=" ")
