"""A straight line through measured (KB, seconds) points, for costs that cannot be negative."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    intercept: float
    slope: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def fit_line(points: Sequence[tuple[float, float]]) -> Line:
    """Least squares, with both coefficients kept >= 0 (a cost that shrinks with size, or a
    negative fixed cost, is measurement noise, not physics)."""
    if not points:
        raise ValueError("no points to fit")
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return Line(max(0.0, mean_y), 0.0)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    if slope <= 0:
        return Line(max(0.0, mean_y), 0.0)
    intercept = mean_y - slope * mean_x
    if intercept < 0:
        # Through the origin instead: all the cost is per KB.
        return Line(0.0, max(0.0, sum(x * y for x, y in points) / sum(x * x for x in xs)))
    return Line(intercept, slope)
