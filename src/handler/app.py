"""Lambda entry point: decorators and wiring only; the work is in ingest.batch."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest.batch import BatchProcessor, BatchRetryRequested
from ingest.config import load_settings
from ingest.deadline import Deadline
from ingest.telemetry import log_report, publish_metrics
from ingest.wiring import build_processor

DEFAULT_METRICS_NAMESPACE = "SqsRedshiftIngest"
DEFAULT_SERVICE = "sqs-redshift-ingest"

logger = Logger()
metrics = Metrics()


@functools.cache
def processor() -> BatchProcessor:
    """Settings are validated and clients built once per cold start, on first use."""
    # Without POWERTOOLS_METRICS_NAMESPACE the flush would fail *after* rows were written,
    # turning a forgotten setting into duplicates; fall back to the documented names instead.
    metrics.provider.namespace = metrics.namespace or DEFAULT_METRICS_NAMESPACE
    metrics.provider.service = metrics.service or DEFAULT_SERVICE
    if logger.service == "service_undefined":  # Powertools' placeholder when unset
        logger.append_keys(service=DEFAULT_SERVICE)
    return build_processor(load_settings(os.environ))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = processor()
    budget = context.get_remaining_time_in_millis() / 1000 - batch.settings.deadline_margin_seconds
    try:
        retry_ids, report = batch.process(event.get("Records", []), Deadline.after(budget))
    except BatchRetryRequested as everything_failed:
        report = everything_failed.args[0]
        publish_metrics(metrics, report)
        log_report(logger, report)
        logger.error("no record could be written or dead-lettered: failing the batch")
        raise
    publish_metrics(metrics, report)
    log_report(logger, report)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry_ids]}
