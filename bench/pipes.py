"""The EventBridge Pipes-like design: an SQS source, a Redshift Data API target, no code.

What it stands for:
- Pipes polls SQS ("by default, EventBridge polls up to 10 messages in your queue
  simultaneously", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html;
  BatchSize 1-10,000, window 0-300 s, https://docs.aws.amazon.com/eventbridge/latest/
  pipes-reference/API_PipeSourceSqsQueueParameters.html). The Redshift Data API is not among
  the batchable targets (CloudWatch Logs, event buses, Firehose, Kinesis, Lambda, Step
  Functions, SNS, SQS), and "if you configure a pipe with an enrichment or target that doesn't
  support batching, you won't be able to activate batching on the source"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html):
  each event is its own target call.
- The target "invoke[s] the Amazon Redshift Data API BatchExecuteStatement" with `Sqls` (1-40
  strings of at most 100,000 characters, https://docs.aws.amazon.com/eventbridge/latest/
  pipes-reference/API_PipeTargetRedshiftDataParameters.html); a dynamic path must be a whole
  value, not part of one ("RedshiftParameters.Sql can be $.detail.state but it can't be
  'SELECT * FROM $.detail.state'", https://docs.aws.amazon.com/eventbridge/latest/userguide/
  eb-pipes-event-target.html), so the INSERT's text, values spliced in, comes whole from the
  event: here one INSERT per event with every value written as a literal (quotes doubled, as
  the old designs; the benchmark does not punish a producer that forgets to).
- The pipe does not wait for the statement: a submit the Data API accepted is a delivered
  event (its SQS message deleted); a refused submit (the active-statement quota, throttling)
  fails the event, which SQS redelivers after the visibility timeout.
- How many target calls a pipe makes at once is not documented for an SQS source (unverified):
  the model runs `instances` pollers of 10 messages each, every event of a batch submitted in
  parallel (as design 1's workers do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.legacy import legacy_insert
from ingest.records import Row, read_message
from local.appsflyer import validate

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
else:
    RedshiftDataAPIServiceClient = Any

POLL_MESSAGES = 10  # what the pipe's poller receives at once (eb-pipes-sqs)


@dataclass(frozen=True)
class PipesConfig:
    cluster_identifier: str
    database: str
    db_user: str
    table: str


class PipeTarget:
    """Per event: one BatchExecuteStatement of one templated INSERT, not waited for."""

    def __init__(self, config: PipesConfig, client: RedshiftDataAPIServiceClient) -> None:
        self._config = config
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=POLL_MESSAGES, thread_name_prefix="pipe")

    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]:
        """The ids of the events whose submit was refused (SQS redelivers them)."""
        rows = []
        for record in records:
            row = validate(read_message(record))
            assert isinstance(row, Row), row  # the benchmark's bodies are clean
            rows.append(row)
        accepted = list(self._pool.map(self._submit, rows))
        return {row.message_id for row, ok in zip(rows, accepted, strict=True) if not ok}

    def _submit(self, row: Row) -> bool:
        try:
            self._client.batch_execute_statement(
                ClusterIdentifier=self._config.cluster_identifier,
                Database=self._config.database,
                DbUser=self._config.db_user,
                Sqls=[legacy_insert(self._config.table, [row])],
            )
        except (ClientError, BotoCoreError):
            return False
        return True
