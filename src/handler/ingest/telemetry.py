"""What the function tells operators: one summary log line, failure lines, EMF metrics."""

from __future__ import annotations

import re
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ingest.batch import BatchReport


class MetricName(StrEnum):
    """Every metric the function emits; the dashboard in template.yaml shows each one."""

    # dimensions: service
    RECORDS_RECEIVED = "RecordsReceived"
    RECORDS_RETRIED = "RecordsRetried"
    DEAD_LETTER_SEND_FAILURES = "DeadLetterSendFailures"
    LEDGER_ERRORS = "LedgerErrors"
    # dimensions: Target, service
    ROWS_WRITTEN = "RowsWritten"
    STATEMENTS_SUBMITTED = "StatementsSubmitted"
    STATEMENTS_CANCELLED = "StatementsCancelled"
    QUOTA_REJECTIONS = "QuotaRejections"
    THROTTLES = "Throttles"
    BISECTION_STEPS = "BisectionSteps"
    STATEMENT_DURATION = "StatementDuration"
    # dimensions: Reason, service
    RECORDS_DEAD_LETTERED = "RecordsDeadLettered"


# Database errors can quote the offending value ('invalid input syntax for type ...: "x"'),
# and a value may itself contain quotes: everything from the first quote on is dropped.
_FIRST_QUOTE = re.compile(r"[\"'`]")


def redact(text: str) -> str:
    """Keep an error's leading words, never what it quotes (logs must not carry values)."""
    match = _FIRST_QUOTE.search(text)
    return text if match is None else text[: match.start()] + "…"


def publish_metrics(metrics: Metrics, report: BatchReport) -> None:
    """Batch-level metrics go through the decorator-flushed `metrics`; per-target and
    per-reason ones need their own dimension, so each set is flushed as its own EMF blob."""
    count = MetricUnit.Count
    metrics.add_metric(MetricName.RECORDS_RECEIVED, count, report.received)
    metrics.add_metric(MetricName.RECORDS_RETRIED, count, len(report.retried))
    metrics.add_metric(
        MetricName.DEAD_LETTER_SEND_FAILURES, count, report.dead_letter_send_failures
    )
    metrics.add_metric(MetricName.LEDGER_ERRORS, count, report.ledger_errors)
    for result in report.targets:
        per_target = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
        per_target.add_dimension("Target", result.target)
        stats = result.stats
        per_target.add_metric(MetricName.ROWS_WRITTEN, count, len(result.written))
        per_target.add_metric(MetricName.STATEMENTS_SUBMITTED, count, stats.statements_submitted)
        per_target.add_metric(MetricName.STATEMENTS_CANCELLED, count, stats.statements_cancelled)
        per_target.add_metric(MetricName.QUOTA_REJECTIONS, count, stats.quota_rejections)
        per_target.add_metric(MetricName.THROTTLES, count, stats.throttles)
        per_target.add_metric(MetricName.BISECTION_STEPS, count, stats.bisection_steps)
        for duration in stats.statement_durations_ms:
            per_target.add_metric(
                MetricName.STATEMENT_DURATION, MetricUnit.Milliseconds, round(duration, 3)
            )
        per_target.flush_metrics()
    for reason, records in sorted(report.dead_lettered.items()):
        per_reason = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
        per_reason.add_dimension("Reason", reason)
        per_reason.add_metric(MetricName.RECORDS_DEAD_LETTERED, count, records)
        per_reason.flush_metrics()


def log_report(logger: Logger, report: BatchReport) -> None:
    """One line per failed record (ids and reasons only), then one summary line."""
    for line in report.failures:
        logger.warning(
            "record not written",
            extra={
                "message_id": line.message_id,
                "outcome": line.outcome,
                "target": line.target,
                "statement_id": line.statement_id,
                "reason": redact(line.reason),
            },
        )
    if report.unrecorded_split:
        logger.error(
            "ledger write failed: these records will be written again to targets that "
            "already hold them when SQS redelivers them",
            extra={"message_ids": report.unrecorded_split},
        )
    logger.info("batch processed", extra=report.summary())
