"""One instance of this project's function, as Lambda runs it: settings, ingest, deadlines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.batch import BatchIngest, NothingProgressed
from ingest.config import Settings, load_settings
from ingest.wiring import build_ingest, deadlines_for


@dataclass(frozen=True)
class FunctionConfig:
    """The function's environment (what load_settings reads) and its timeout."""

    environment: tuple[tuple[str, str], ...]
    timeout_seconds: float


class FunctionInstance:
    """Built the way app.ingest() builds it, minus Powertools' logging and metrics output;
    answers like app.lambda_handler: partial batch failures, or every record when it raises."""

    def __init__(self, config: FunctionConfig) -> None:
        self._settings: Settings = load_settings(dict(config.environment))
        # Clients come from the SDK's defaults: AWS_ENDPOINT_URL_* point them at the local stack.
        self._ingest: BatchIngest = build_ingest(self._settings)
        self._timeout_seconds = config.timeout_seconds

    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]:
        """Return the ids Lambda would not delete: batchItemFailures, or all of them on a raise."""
        # Each invocation starts with the whole timeout, as Lambda's remaining time does.
        deadlines = deadlines_for(self._settings, self._timeout_seconds)
        try:
            report = self._ingest.process({"Records": list(records)}, deadlines)
        except NothingProgressed:
            return {str(record["messageId"]) for record in records}
        return set(report.returned)
