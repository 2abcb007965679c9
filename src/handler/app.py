"""Lambda entry point: decorators and wiring only; the work is in ingest.batch."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from ingest.batch import BatchIngest, NothingProgressed
from ingest.config import load_settings
from ingest.telemetry import log_report, log_table_layout, publish_metrics
from ingest.wiring import build_ingest, deadlines_for

DEFAULT_METRICS_NAMESPACE = "SqsRedshiftIngest"
DEFAULT_SERVICE = "sqs-redshift-ingest"

logger = Logger()
metrics = Metrics()
# Off outside Lambda (tests, the demo); responses are never captured: they name message ids.
tracer = Tracer()


class BatchNotProcessed(RuntimeError):
    """Raised to Lambda so it backs off the queue; carries a count, never a value."""


@functools.cache
def ingest() -> BatchIngest:
    """Settings are validated and clients built once per cold start, on first use."""
    # Without POWERTOOLS_METRICS_NAMESPACE the flush would fail *after* rows were written,
    # turning a forgotten setting into duplicates; fall back to the documented names instead.
    metrics.provider.namespace = metrics.namespace or DEFAULT_METRICS_NAMESPACE
    metrics.provider.service = metrics.service or DEFAULT_SERVICE
    if logger.service == "service_undefined":  # Powertools' placeholder when unset
        logger.append_keys(service=DEFAULT_SERVICE)
    return build_ingest(
        load_settings(os.environ),
        on_table_change=functools.partial(log_table_layout, logger),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = ingest()
    deadlines = deadlines_for(batch.settings, context.get_remaining_time_in_millis() / 1000)
    try:
        report = batch.process(event, deadlines)
    except NothingProgressed as stuck:
        publish_metrics(metrics, stuck.report)
        log_report(logger, stuck.report)
        # A short message of our own: the exception text is logged by Lambda, and the report
        # (whose reasons quote database errors) must only ever reach the logs masked.
        raise BatchNotProcessed(str(stuck)) from None
    publish_metrics(metrics, report)
    log_report(logger, report)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.returned]}
