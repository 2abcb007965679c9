"""Steady-state rates from time series: the middle of a run, without its start and its tail."""

from __future__ import annotations

from collections.abc import Sequence

# The steady part: from the moment 10% of the run's rows had landed to the moment 90% had.
_LOW, _HIGH = 0.1, 0.9


def _crossing(samples: Sequence[tuple[float, int]], level: float) -> float:
    """When the (time, cumulative count) series first reached `level`, interpolated."""
    previous_t, previous_n = samples[0]
    for t, n in samples:
        if n >= level:
            if n == previous_n:
                return t
            return previous_t + (t - previous_t) * (level - previous_n) / (n - previous_n)
        previous_t, previous_n = t, n
    return samples[-1][0]


def sustained_rate(samples: Sequence[tuple[float, int]]) -> float:
    """Rows per second between the 10% and 90% marks of the rows landed by the series' end."""
    if len(samples) < 2:
        return 0.0
    final = samples[-1][1] - samples[0][1]
    if final <= 0:
        return 0.0
    base = samples[0][1]
    start = _crossing(samples, base + _LOW * final)
    end = _crossing(samples, base + _HIGH * final)
    if end <= start:
        return 0.0
    return (_HIGH - _LOW) * final / (end - start)
