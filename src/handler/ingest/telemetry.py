"""What the function tells operators: one summary log line, failure lines, EMF metrics."""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ingest.batch import BatchReport
from ingest.layout import TableLayout
from ingest.masking import mask


class MetricName(StrEnum):
    """Every metric the function emits; the dashboard in template.yaml shows each one."""

    # dimensions: service
    RECORDS_RECEIVED = "RecordsReceived"
    # RecordsReturned is also per Target (below): records in batchItemFailures, and of those
    # the ones each target lacks, so a one-target outage has its own series and alarm.
    DEAD_LETTER_SEND_FAILURES = "DeadLetterSendFailures"
    # dimensions: Target, service
    RECORDS_RETURNED = "RecordsReturned"  # per target: the returned records it still lacks
    ROWS_WRITTEN = "RowsWritten"
    ROWS_ALREADY_PRESENT = "RowsAlreadyPresent"
    STATEMENTS_SUBMITTED = "StatementsSubmitted"
    STATEMENTS_CANCELLED = "StatementsCancelled"
    STATEMENTS_UNCONFIRMED = "StatementsUnconfirmed"
    QUOTA_REJECTIONS = "QuotaRejections"
    THROTTLES = "Throttles"
    BISECTION_STEPS = "BisectionSteps"
    STATEMENT_DURATION = "StatementDuration"
    TRANSACTIONS_COMMITTED = "TransactionsCommitted"
    FIELDS_DROPPED = "FieldsDropped"  # payload fields with no column, in a table with no overflow
    # dimensions: Reason, service
    RECORDS_DEAD_LETTERED = "RecordsDeadLettered"


def publish_metrics(metrics: Metrics, report: BatchReport) -> None:
    """Batch-level metrics go through the decorator-flushed `metrics`; per-target and
    per-reason ones need their own dimension, so each set is flushed as its own EMF blob."""
    count = MetricUnit.Count
    metrics.add_metric(MetricName.RECORDS_RECEIVED, count, report.received)
    metrics.add_metric(MetricName.RECORDS_RETURNED, count, len(report.returned))
    metrics.add_metric(
        MetricName.DEAD_LETTER_SEND_FAILURES, count, report.dead_letter_send_failures
    )
    for result in report.targets:
        per_target = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
        per_target.add_dimension("Target", result.target)
        stats = result.stats
        per_target.add_metric(
            MetricName.RECORDS_RETURNED,
            count,
            report.returned_lacking.get(result.target, 0),
        )
        per_target.add_metric(MetricName.ROWS_WRITTEN, count, len(result.written))
        per_target.add_metric(MetricName.ROWS_ALREADY_PRESENT, count, len(result.already_held))
        per_target.add_metric(MetricName.STATEMENTS_SUBMITTED, count, stats.submitted)
        per_target.add_metric(MetricName.STATEMENTS_CANCELLED, count, stats.cancelled)
        per_target.add_metric(MetricName.STATEMENTS_UNCONFIRMED, count, len(result.unconfirmed))
        per_target.add_metric(MetricName.QUOTA_REJECTIONS, count, stats.quota_rejections)
        per_target.add_metric(MetricName.THROTTLES, count, stats.throttles)
        per_target.add_metric(MetricName.BISECTION_STEPS, count, result.counts.bisection_steps)
        per_target.add_metric(MetricName.TRANSACTIONS_COMMITTED, count, result.counts.transactions)
        per_target.add_metric(MetricName.FIELDS_DROPPED, count, result.counts.dropped_fields)
        for duration in stats.durations_ms:
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
    """One line per failed record (ids and masked reasons only), then one summary line."""
    for line in report.failures:
        logger.warning(
            "record not written",
            extra={
                "message_id": line.message_id,
                "outcome": line.outcome.value,
                "target": line.target,
                "statement_id": line.statement_id,
                "reason": mask(line.reason),
            },
        )
    for result in report.targets:
        if result.unconfirmed:
            logger.error(
                "statement not confirmed: its end is unknown; the redelivery cancels it if it "
                "still runs and asks the target which rows it holds before writing",
                extra={"target": result.target, "statements": list(result.unconfirmed)},
            )
    logger.info("batch processed", extra=report.summary())


def log_table_layout(
    logger: Logger, target: str, before: TableLayout | None, after: TableLayout
) -> None:
    """One line when a target's table is first read or found changed: column names and
    types only (the catalog holds no values)."""
    old = {c.name: c.redshift_type for c in before.columns} if before else {}
    new = {c.name: c.redshift_type for c in after.columns}
    logger.info(
        "target table read" if before is None else "target table changed",
        extra={
            "target": target,
            "table": after.table,
            "columns": len(after.columns),
            "added": sorted(set(new) - set(old)) if before else [],
            "removed": sorted(set(old) - set(new)),
            "retyped": sorted(n for n in set(old) & set(new) if old[n] != new[n]),
            "overflow_column": (
                after.columns[after.overflow_index].name
                if after.overflow_index is not None
                else None
            ),
            # Nullable columns of a type the function cannot write: always left NULL.
            "skipped_columns": [f"{c.name} {c.type_text}" for c in after.skipped],
            "mapped_columns_missing": list(after.unmapped),
        },
    )
