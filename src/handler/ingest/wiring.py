"""Builds the batch processor from settings and SDK clients (the composition root)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from ingest.batch import BatchProcessor
from ingest.config import Settings
from ingest.dead_letter import DeadLetterQueue
from ingest.ledger import Ledger
from ingest.redshift import DataApi
from ingest.writer import TargetWriter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_sqs import SQSClient
else:
    DynamoDBClient = SQSClient = RedshiftDataAPIServiceClient = Any


def redshift_data_client(read_timeout: float) -> RedshiftDataAPIServiceClient:
    # One attempt per SDK call: our own loop retries with jitter, counts quota rejections
    # and throttles for the metrics, and never sleeps past the invocation's deadline.
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=3,
        read_timeout=read_timeout,
    )
    return boto3.client("redshift-data", config=config)


def build_processor(
    settings: Settings,
    *,
    redshift: RedshiftDataAPIServiceClient | None = None,
    sqs: SQSClient | None = None,
    dynamodb: DynamoDBClient | None = None,
) -> BatchProcessor:
    api = DataApi(
        # ExecuteStatement may block for WaitTimeSeconds; describe and cancel answer at once.
        redshift or redshift_data_client(settings.statement_wait_seconds + 10),
        control_client=redshift or redshift_data_client(5),
        wait_seconds=settings.statement_wait_seconds,
        poll_initial_seconds=settings.poll_initial_seconds,
        poll_max_seconds=settings.poll_max_seconds,
    )
    ledger = None
    if settings.ledger_table:
        ledger = Ledger(
            dynamodb or boto3.client("dynamodb"),
            settings.ledger_table,
            ttl_days=settings.ledger_ttl_days,
        )
    return BatchProcessor(
        settings=settings,
        writer=TargetWriter(api, settings),
        dead_letters=DeadLetterQueue(sqs or boto3.client("sqs"), settings.dead_letter_queue_url),
        ledger=ledger,
    )
