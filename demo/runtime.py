"""The demo's stand-ins for Lambda and AWS: moto for SQS, a context, the handler."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, cast

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

import app
from local.lambda_context import LambdaContextStub

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
FUNCTION_NAME = "sqs-redshift-ingest-demo"
# A 60 s function: long enough that the handler's deadline never cuts a demo batch short.
FUNCTION_TIMEOUT_MS = 60_000
TABLE_READ_MESSAGES = ("target table read", "target table changed")


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (None: unset) variables for the duration; what was there before comes back."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            _put_env(name, value)
        yield
    finally:
        for name, value in saved.items():
            _put_env(name, value)


def _put_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def sdk_environment(data_api_url: str, moto_url: str) -> dict[str, str | None]:
    """Dummy credentials and the SDK's standard endpoint variables, nothing home-made."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # A global override or an opt-out would send some calls elsewhere: neither applies.
        "AWS_ENDPOINT_URL": None,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
        "AWS_ENDPOINT_URL_REDSHIFT_DATA": data_api_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
    }


@dataclass(frozen=True)
class DeadLetterSeen:
    """One message read back from the dead-letter queue, by its attributes."""

    message_id: str
    reason: str
    detail: str
    failed_targets: str | None


class FakeAws:
    """The dead-letter queue in moto, and a way to look inside it."""

    def __init__(self, sqs: SQSClient, suffix: str) -> None:
        self._sqs = sqs
        self.dlq_url = sqs.create_queue(QueueName=f"ingest-dlq-{suffix}")["QueueUrl"]

    @classmethod
    def create(cls) -> FakeAws:
        """A client from the environment (AWS_ENDPOINT_URL_SQS), like the handler's."""
        # A fresh suffix: moto's state is per process, and a test may run the demo twice.
        return cls(boto3.client("sqs"), uuid.uuid4().hex[:8])

    def handler_environment(self) -> dict[str, str | None]:
        return {"DEAD_LETTER_QUEUE_URL": self.dlq_url}

    def drain_dead_letters(self) -> list[DeadLetterSeen]:
        """Receive and delete everything in the queue, so the next batch starts from empty."""
        seen: list[DeadLetterSeen] = []
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return seen
            for message in messages:
                seen.append(_dead_letter(message))
                self._sqs.delete_message(
                    QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )


def _dead_letter(message: Mapping[str, Any]) -> DeadLetterSeen:
    attributes = {
        name: value.get("StringValue", "")
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return DeadLetterSeen(
        message_id=attributes.get("original_message_id", "?"),
        reason=attributes.get("reason", "?"),
        detail=attributes.get("reason_detail", ""),
        failed_targets=attributes.get("failed_targets"),
    )


@dataclass(frozen=True)
class Invocation:
    """What one handler call answered, and what it logged about itself."""

    retry_ids: list[str]
    raised: str | None  # app.BatchNotProcessed: the whole batch goes back
    summary: dict[str, Any] | None  # the "batch processed" log line
    failures: list[dict[str, Any]]  # the "record not written" log lines
    seconds: float
    # The "target table read" / "target table changed" log lines: when the handler read a
    # target's table from its catalog, and what it found different.
    table_reads: list[dict[str, Any]] = field(default_factory=list)


class Handler:
    """Calls app.lambda_handler with its JSON logs and EMF metrics sent to a file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("", encoding="utf-8")  # this run's output only

    def invoke(self, event: Mapping[str, Any], message_ids: Sequence[str]) -> Invocation:
        offset = self.log_path.stat().st_size
        raised: str | None = None
        with (
            interrupts_deferred(),
            self.log_path.open("a", encoding="utf-8") as sink,
            _handler_output_to(sink),
        ):
            started = time.perf_counter()
            try:
                context = LambdaContextStub(FUNCTION_NAME, 1024, FUNCTION_TIMEOUT_MS)
                response = app.lambda_handler(dict(event), cast(LambdaContext, context))
                retry_ids = [item["itemIdentifier"] for item in response["batchItemFailures"]]
            except app.BatchNotProcessed:
                raised = "BatchNotProcessed: nothing written, found written or dead-lettered"
                retry_ids = list(message_ids)
            seconds = time.perf_counter() - started
        lines = _json_lines(self.log_path, offset)
        summaries = [line for line in lines if line.get("message") == "batch processed"]
        return Invocation(
            retry_ids=retry_ids,
            raised=raised,
            summary=summaries[-1] if summaries else None,
            failures=[line for line in lines if line.get("message") == "record not written"],
            seconds=seconds,
            table_reads=[line for line in lines if line.get("message") in TABLE_READ_MESSAGES],
        )


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (or SIGTERM, when it raises KeyboardInterrupt) during a batch takes effect when
    the batch ends: a KeyboardInterrupt inside the handler can leave a lock of its thread pool
    held, and the process then hangs instead of cleaning up. A second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        if pending:
            raise KeyboardInterrupt
        pending.append(signum)
        os.write(2, b"\ninterrupted: stopping after this batch (again to stop at once)\n")

    deferred = (signal.SIGINT, signal.SIGTERM)
    previous = {
        signum: signal.signal(signum, defer)
        for signum in deferred
        if signal.getsignal(signum) is signal.default_int_handler
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _handler_output_to(sink: TextIO) -> Iterator[None]:
    """Powertools' log handler writes to the stream it was built with (stdout at import), and
    EMF metrics are print()ed: point both at the sink, and log at INFO for the summary line."""
    handler = app.logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise TypeError(f"unexpected Powertools log handler {handler!r}")
    previous_stream = handler.setStream(sink)
    previous_level = app.logger.log_level
    app.logger.setLevel("INFO")
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        if previous_stream is not None:
            handler.setStream(previous_stream)
        app.logger.setLevel(previous_level)


def _json_lines(path: Path, offset: int) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as log:
        log.seek(offset)
        text = log.read()
    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            decoded = json.loads(raw)
            if isinstance(decoded, dict):
                lines.append(decoded)
    return lines


@contextlib.contextmanager
def cold_start() -> Iterator[None]:
    """The handler builds its ingest once per process; the demo's settings need a new one,
    and whatever runs after the demo (a test session) must not inherit it."""
    app.ingest.cache_clear()
    try:
        yield
    finally:
        app.ingest.cache_clear()
