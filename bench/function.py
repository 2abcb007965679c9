"""One instance of this project's function, as Lambda runs it: settings, processor, deadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.batch import BatchProcessor, BatchRetryRequested
from ingest.config import load_settings
from ingest.deadline import Deadline
from ingest.wiring import build_processor


@dataclass(frozen=True)
class FunctionConfig:
    """The function's environment (what load_settings reads) and its timeout."""

    environment: tuple[tuple[str, str], ...]
    timeout_seconds: float


class FunctionInstance:
    """Built the way app.processor() builds it, minus Powertools' logging and metrics output;
    answers like app.lambda_handler: partial batch failures, or every record when it raises."""

    def __init__(self, config: FunctionConfig) -> None:
        settings = load_settings(dict(config.environment))
        # Clients come from the SDK's defaults: AWS_ENDPOINT_URL_* point them at the local stack.
        self._processor: BatchProcessor = build_processor(settings)
        self._budget = config.timeout_seconds - settings.deadline_margin_seconds

    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]:
        """Return the ids Lambda would not delete: batchItemFailures, or all of them on a raise."""
        try:
            retry_ids, _report = self._processor.process(records, Deadline.after(self._budget))
        except BatchRetryRequested:
            return {str(record["messageId"]) for record in records}
        return set(retry_ids)
