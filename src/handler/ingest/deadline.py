"""The invocation's time budget: when to stop working, to settle cancels, and to return."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    expires_at: float  # on `clock`'s scale
    clock: Callable[[], float] = field(default=time.monotonic)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def allows(self, seconds: float) -> bool:
        """Whether something that may take `seconds` still ends before this deadline."""
        return self.remaining() >= seconds

    def earlier_by(self, seconds: float) -> Deadline:
        return Deadline(self.expires_at - seconds, self.clock)


@dataclass(frozen=True)
class Deadlines:
    """Three moments of one invocation, each earlier one leaving room for what follows it.

    work:    no statement is submitted or waited for after it (what runs is then cancelled);
    cleanup: cancels are confirmed by then (room is left for one dead-letter send);
    hard:    every call, dead-letter sends included, has returned: Lambda's remaining time
             minus DEADLINE_MARGIN_SECONDS, so the function answers SQS before its timeout.
    """

    work: Deadline
    cleanup: Deadline
    hard: Deadline

    @classmethod
    def within(
        cls,
        seconds: float,
        *,
        cancel_seconds: float,
        dead_letter_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadlines:
        hard = Deadline.after(seconds, clock)
        cleanup = hard.earlier_by(dead_letter_seconds)
        return cls(cleanup.earlier_by(cancel_seconds), cleanup, hard)

    @classmethod
    def single(cls, deadline: Deadline) -> Deadlines:
        """One moment for all three (tests of logic that does not care about the phases)."""
        return cls(deadline, deadline, deadline)
