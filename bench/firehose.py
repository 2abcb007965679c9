"""The Firehose-like design: an SQS forwarder, a buffer flushed by size or interval, one COPY per
flush, retried until it succeeds (at least once).

What it stands for (each cited where it is used):
- Firehose has no SQS source, so a forwarder (a Lambda behind an event source mapping) sends
  each batch with PutRecordBatch (at most 500 records per call,
  https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html) and lets SQS
  delete the batch once Firehose accepted it.
- Firehose buffers "to a certain size (buffering size) and for a certain period of time
  (buffering interval)"; "the first buffer condition that is satisfied triggers Firehose to
  deliver the data"; defaults 5 MiB and 300 s, ranges 1-128 MiB and 0-900 s
  (https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html,
  https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html).
- For Redshift, "Firehose first delivers incoming data to your S3 bucket ... then issues an
  Amazon Redshift COPY command" (https://docs.aws.amazon.com/firehose/latest/dev/
  basic-deliver.html); after a failure it "retries delivery" for DurationInSeconds (default
  3600 s, 0-7200 s, https://docs.aws.amazon.com/firehose/latest/APIReference/
  API_RedshiftRetryOptions.html). A COPY whose outcome it did not see is sent again: delivery
  is at least once, so a retried COPY that had committed duplicates its rows.
- One COPY at a time per stream: an assumption (unverified; AWS documents no concurrency for
  Redshift delivery), and the kind one: Redshift serializes concurrent loads of one table
  anyway (local.model).

Here the S3 object is a CSV file of the rows' values in a directory PostgreSQL's server may
read, and the COPY is PostgreSQL's `COPY ... FROM '<file>' WITH (FORMAT csv)`, sent through
the local Data API (Firehose uses its own connection; one statement at a time, far below the
active-statement quota). The model charges it as a COPY: per commit, per file, per KB of the
file (local.loads). CSV is the cheaper file to charge (about 1.3 KB per row against the raw
4.1 KB JSON a `COPY ... JSON 'auto'` would read): the benchmark gives Firehose that format.
Converting the JSON bodies to rows is work Firehose would leave to COPY or a transformation
Lambda; here it is done at delivery and costs nothing in the cost figures.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bench.instances import Invocation
from bench.prices import FIREHOSE_RECORD_ROUNDING
from ingest.records import Row, read_message
from ingest.schema import quote_identifier
from local.appsflyer import INSERT_COLUMNS, validate

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
else:
    RedshiftDataAPIServiceClient = Any

PUT_RECORD_BATCH_MAX = 500  # records per PutRecordBatch call (API_PutRecordBatch)
DEFAULT_INTERVAL_SECONDS = 300.0  # BufferingHints.IntervalInSeconds default
DEFAULT_SIZE_BYTES = 5 * 1024 * 1024  # BufferingHints.SizeInMBs default (MiB)
_CALL_SECONDS = 0.01  # one PutRecordBatch round trip, as the queue's calls cost
_POLL_SECONDS = 0.1  # DescribeStatement while a COPY runs
_RETRY_PAUSE_SECONDS = 1.0  # between a failed COPY and its retry
_COLUMNS = ",".join(quote_identifier(c.name) for c in INSERT_COLUMNS)


@dataclass(frozen=True)
class StreamConfig:
    target: str
    database: str
    db_user: str
    table: str
    interval_seconds: float
    size_bytes: int


@dataclass
class StreamCounts:
    """What the stream did, for the report and the cost figures."""

    records: int = 0  # records ingested (PutRecordBatch entries)
    billed_bytes: int = 0  # each record rounded up to 5 KB (bench/prices.py)
    put_calls: int = 0
    flushes: int = 0  # S3 objects written, one COPY each
    flushed_by_size: int = 0
    copies: int = 0  # COPY statements sent, retries included
    retries: int = 0
    refused: int = 0  # COPY submits the Data API refused (quota, throttling): retried too


def _csv_field(value: str | bool | None) -> str:
    """PostgreSQL CSV: an unquoted empty field is NULL, a quoted one the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"' + value.replace('"', '""') + '"'


def csv_line(row: Row) -> str:
    return ",".join(_csv_field(v) for v in row.values) + "\n"


class FirehoseStream:
    """A buffer of records and one delivery thread that flushes it by size or interval into
    a COPY, and retries each COPY until it is FINISHED."""

    def __init__(self, config: StreamConfig, client: RedshiftDataAPIServiceClient) -> None:
        self._config = config
        self._client = client
        self._cond = threading.Condition()
        self._buffer: list[Mapping[str, Any]] = []
        self._buffer_bytes = 0
        self._buffer_since = 0.0  # monotonic time the buffer's first record arrived
        self._delivering = False
        self._stop = threading.Event()
        self.counts = StreamCounts()
        self._folder = tempfile.mkdtemp(prefix="bench-firehose-")
        os.chmod(self._folder, 0o755)  # noqa: S103 (PostgreSQL's server process reads the files)
        self._thread = threading.Thread(target=self._deliver, name="firehose", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(120)
        with contextlib.suppress(OSError):
            os.rmdir(self._folder)

    def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        """PutRecordBatch: accepted records are Firehose's to deliver from now on."""
        with self._cond:
            if not self._buffer:
                self._buffer_since = time.monotonic()
            for record in records:
                size = len(str(record["body"]).encode())
                self._buffer.append(record)
                self._buffer_bytes += size
                self.counts.records += 1
                self.counts.billed_bytes += -(-size // FIREHOSE_RECORD_ROUNDING) * (
                    FIREHOSE_RECORD_ROUNDING
                )
            self.counts.put_calls += -(-len(records) // PUT_RECORD_BATCH_MAX)
            self._cond.notify_all()

    def idle(self) -> bool:
        """Nothing buffered and no COPY under way."""
        with self._cond:
            return not self._buffer and not self._delivering

    def _due_locked(self) -> tuple[bool, bool]:
        """(flush now, because of its size)."""
        if not self._buffer:
            return False, False
        if self._buffer_bytes >= self._config.size_bytes:
            return True, True
        waited = time.monotonic() - self._buffer_since
        return waited >= self._config.interval_seconds, False

    def _deliver(self) -> None:
        while True:
            with self._cond:
                while True:
                    due, by_size = self._due_locked()
                    if self._stop.is_set() and self._buffer:
                        due = True  # the run is over: what Firehose holds is still delivered
                    if due or self._stop.is_set():
                        break
                    self._cond.wait(0.05)
                if not due:
                    return  # stopped with nothing due (the run is over)
                batch, self._buffer, self._buffer_bytes = self._buffer, [], 0
                self._delivering = True
                self.counts.flushes += 1
                self.counts.flushed_by_size += by_size
            try:
                self._copy(batch)
            finally:
                with self._cond:
                    self._delivering = False

    def _copy(self, batch: Sequence[Mapping[str, Any]]) -> None:
        path = Path(self._folder) / f"flush-{self.counts.flushes:05d}.csv"
        lines = []
        for record in batch:
            row = validate(read_message(record))
            assert isinstance(row, Row), row  # the benchmark's bodies are clean
            lines.append(csv_line(row))
        path.write_text("".join(lines), encoding="utf-8")
        path.chmod(0o644)
        sql = f"COPY {self._config.table} ({_COLUMNS}) FROM '{path}' WITH (FORMAT csv)"
        try:
            while not self._copied(sql):
                self.counts.retries += 1
                time.sleep(_RETRY_PAUSE_SECONDS)
        finally:
            path.unlink(missing_ok=True)

    def _copied(self, sql: str) -> bool:
        """One COPY, waited for; False when it must be sent again (FAILED, refused, lost)."""
        self.counts.copies += 1
        try:
            statement = self._client.execute_statement(
                ClusterIdentifier=self._config.target,
                Database=self._config.database,
                DbUser=self._config.db_user,
                Sql=sql,
            )
            while True:
                status = self._client.describe_statement(Id=statement["Id"])["Status"]
                if status == "FINISHED":
                    return True
                if status in {"FAILED", "ABORTED"}:
                    return False
                time.sleep(_POLL_SECONDS)
        except (ClientError, BotoCoreError):
            self.counts.refused += 1
            return False


class Forwarder:
    """The SQS-to-Firehose forwarder Lambda, run in the poller's thread: it only relays bodies,
    so a process of its own would add nothing but pipes."""

    def __init__(self, stream: FirehoseStream) -> None:
        self._stream = stream

    def invoke(self, records: list[dict[str, Any]]) -> Invocation:
        started = time.process_time()
        for start in range(0, len(records), PUT_RECORD_BATCH_MAX):
            time.sleep(_CALL_SECONDS)
            self._stream.put(records[start : start + PUT_RECORD_BATCH_MAX])
        # No Data API calls: the stream counts its PutRecordBatch calls itself.
        return Invocation(frozenset(), time.process_time() - started, {})
