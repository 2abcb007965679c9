"""Watches a design while it runs: rows landed over time, and the first quota refusal."""

from __future__ import annotations

import threading
import time

from local.stack import LocalDataApi

_TICK_SECONDS = 0.1  # cluster counters: cheap, read often
_COUNT_EVERY = 5  # ticks between row counts (a count(*) scans the table)


class Sampler:
    """Counts committed rows in the first target's table and notes when the first
    ActiveStatementsExceededException happened on any target (to within one tick)."""

    def __init__(self, api: LocalDataApi, targets: list[str], database: str, table: str) -> None:
        self._api = api
        self._targets = targets
        self._database = database
        self._query = f"SELECT count(*) FROM {table}"  # noqa: S608 (our own identifier)
        self.rows: list[tuple[float, int]] = []
        self.first_rejection_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last count, taken now."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self._api.connect(self._targets[0], self._database) as conn:

            def count() -> None:
                row = conn.execute(self._query).fetchone()
                self.rows.append((time.time(), int(row[0]) if row else 0))

            tick = 0
            count()
            while not self._stop.wait(_TICK_SECONDS):
                tick += 1
                if self.first_rejection_at is None and any(
                    self._api.stats(target).rejected for target in self._targets
                ):
                    self.first_rejection_at = time.time()
                if tick % _COUNT_EVERY == 0:
                    count()
            count()
