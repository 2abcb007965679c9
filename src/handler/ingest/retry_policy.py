"""Every pause, jitter and attempt count of the function's own retries, each with its reason.

The SDK makes one attempt per call (SDK_ATTEMPTS): only our loops know the invocation's
deadlines, so they retry, and never start a call that could not return before its deadline.

One jitter scheme, full jitter: a pause drawn uniformly between 0 and a ceiling that doubles
per attempt up to a cap. Of the schemes AWS compared for clients that contend for one service,
it did the least work and finished soonest ("Exponential Backoff And Jitter", AWS Architecture
Blog, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). Invocations of
this function contend exactly so: for the cluster's active-statement quota and the account's
Data API request rate. One loop has no jitter, for the reason given at STATEMENT_POLL.

Handing a record back to SQS (batchItemFailures) is the retry across invocations; its pace is
the queue's visibility timeout and its count SOURCE_MAX_RECEIVE_COUNT (config.py, template).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# botocore's own retries off (Config retries total_max_attempts): a hidden retry could outlast
# the deadline a call was started against (wiring.ClientTimeouts).
SDK_ATTEMPTS = 1


@dataclass(frozen=True)
class Backoff:
    """Exponential pauses: `first_seconds`, doubling per attempt, never above `cap_seconds`."""

    first_seconds: float
    cap_seconds: float

    def ceiling(self, attempt: int) -> float:
        """The longest pause after `attempt` (0-based) failed attempts."""
        return min(self.cap_seconds, self.first_seconds * 2.0 ** min(attempt, 32))

    def jittered(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and the ceiling."""
        return rng.uniform(0.0, self.ceiling(attempt))


# A submit refused for the cluster's statement quota, throttled, or failed transiently: up to
# MAX_TRANSIENT_RETRIES (a setting) more, with the same ClientToken while it may have been
# received. A quota frees as statements end (seconds), hence a cap of seconds, not minutes.
SUBMIT_RETRY = Backoff(first_seconds=0.2, cap_seconds=5.0)

# Waiting for a submitted statement's end (DescribeStatement) once WaitTimeSeconds has not
# covered it: not jittered, because each invocation polls its own statement, started at its own
# moment, so polls are never in step with another invocation's; the doubling keeps a long
# statement to a few describes, and the cap bounds how late its end is seen.
STATEMENT_POLL = Backoff(first_seconds=0.05, cap_seconds=2.0)

# A cancel the service refused or left unconfirmed, asked again until the statement is seen
# ended or the cleanup deadline: throttled cancels of many invocations at once are contention.
CANCEL_RETRY = Backoff(first_seconds=0.05, cap_seconds=2.0)

# Reads that are safe to repeat (ListStatements, GetStatementResult pages): throttles and
# server errors are retried this many times in all, within the deadline.
READ_ATTEMPTS = 6
READ_RETRY = Backoff(first_seconds=0.25, cap_seconds=2.0)
