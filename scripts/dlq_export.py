"""Export a dead-letter queue to a file without losing or doubling a message; archive it by a move.

Operators run it (docs/runbook.md); it is not part of the function. Usage::

    python scripts/dlq_export.py export --queue-url "$DLQ_URL" --out dlq-export.jsonl
    python scripts/dlq_export.py export --queue-url "$DLQ_URL" --out dlq.jsonl --delete
    python scripts/dlq_export.py archive --source-arn "$DLQ_ARN" --destination-arn "$ARCHIVE_ARN"

`export` long-polls, writes each message once (by MessageId) and flushes it to disk before it
does anything else with it. It stops only when the queue shows nothing visible and nothing in
flight except what this export itself holds, then compares counts and exits non-zero when they
disagree. Without `--delete` the messages stay in the queue (they are hidden while the export
runs and made visible again at its end); with `--delete` each one is deleted only after its line
is on disk, and the export stops when both counts are 0. However it ends (Ctrl-C, an exception,
a lost connection), every message it still holds is made visible again at once
(scripts/dlq_messages.py). The file is created for its owner alone (mode 0600, whatever the
umask): the bodies are the original records, personal data. A Binary attribute's value is
written as base64 text, the form `aws sqs send-message --message-attributes` takes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3

from scripts.dlq_messages import HeldMessages, attributes_for_file, held_until_exit

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

LONG_POLL_SECONDS = 20  # the SQS maximum: an empty reply then means "nothing visible"
# Approximate counts lag: the end condition must hold on this many consecutive checks.
SETTLED_CHECKS = 3
MOVE_TASK_DONE = {"COMPLETED", "CANCELLED", "FAILED"}


@dataclass
class ExportReport:
    """What an export saw: the counts an operator compares."""

    approximate_at_start: int
    written: int = 0
    duplicates_skipped: int = 0
    deleted: int = 0
    unreleased: int = 0  # held messages SQS did not make visible again at the end

    @property
    def complete(self) -> bool:
        # Messages can arrive during the export, so more than the start count is fine.
        return self.written >= self.approximate_at_start

    def summary(self) -> str:
        return (
            f"queue held about {self.approximate_at_start} messages at the start; "
            f"wrote {self.written} distinct messages, skipped {self.duplicates_skipped} "
            f"repeated receives, deleted {self.deleted}"
            + (f"; {self.unreleased} not made visible again" if self.unreleased else "")
        )


def queue_counts(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS reports them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def _line(message: dict[str, Any]) -> str:
    """One message as a JSON line: id, body, attributes; receipt handles are not kept."""
    return json.dumps(
        {
            "MessageId": message["MessageId"],
            "Body": message["Body"],
            "Attributes": message.get("Attributes", {}),
            "MessageAttributes": attributes_for_file(message.get("MessageAttributes", {})),
        },
        sort_keys=True,
    )


def _receive(sqs: SQSClient, queue_url: str, hold_seconds: int, wait_seconds: int) -> list[Any]:
    reply = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=hold_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(reply.get("Messages", []))


def _settled(sqs: SQSClient, queue_url: str, held: HeldMessages, delete: bool) -> bool:
    visible, in_flight = queue_counts(sqs, queue_url)
    # Deleting: nothing left at all. Keeping: whatever is in flight is what this export holds
    # (anything more is another reader's, and comes back when its visibility timeout ends).
    expected_in_flight = 0 if delete else len(held)
    return visible == 0 and in_flight <= expected_in_flight


def export(
    sqs: SQSClient,
    queue_url: str,
    out: IO[str],
    *,
    delete: bool = False,
    hold_seconds: int = 3600,
    wait_seconds: int = LONG_POLL_SECONDS,
    settled_checks: int = SETTLED_CHECKS,
    max_empty_polls: int = 90,
) -> ExportReport:
    """Write every message of the queue to `out` once; see the module docstring. Whatever it
    holds is released on return and on any exception, KeyboardInterrupt included."""
    visible, in_flight = queue_counts(sqs, queue_url)
    report = ExportReport(approximate_at_start=visible + in_flight)
    settings = _Settings(delete, hold_seconds, wait_seconds, settled_checks, max_empty_polls)
    with held_until_exit(sqs, queue_url) as held:
        _export_held(sqs, queue_url, out, held=held, report=report, settings=settings)
    report.unreleased = held.unreleased
    return report


@dataclass(frozen=True)
class _Settings:
    delete: bool
    hold_seconds: int
    wait_seconds: int
    settled_checks: int
    max_empty_polls: int


def _export_held(
    sqs: SQSClient,
    queue_url: str,
    out: IO[str],
    *,
    held: HeldMessages,
    report: ExportReport,
    settings: _Settings,
) -> None:
    seen: set[str] = set()
    settled = 0
    empty_polls = 0
    while settled < settings.settled_checks:
        messages = _receive(sqs, queue_url, settings.hold_seconds, settings.wait_seconds)
        held.keep(messages)  # before anything else can fail: released on any exit
        if not messages:
            empty_polls += 1
            settled = settled + 1 if _settled(sqs, queue_url, held, settings.delete) else 0
            if empty_polls >= settings.max_empty_polls and settled == 0:
                # Someone else holds messages for longer than we are willing to wait.
                break
            continue
        settled = 0
        for message in messages:
            if message["MessageId"] in seen:
                report.duplicates_skipped += 1
            else:
                seen.add(message["MessageId"])
                out.write(_line(message) + "\n")
                report.written += 1
        _on_disk(out)  # before anything is deleted or released
        if settings.delete:
            for message_id in _delete(sqs, queue_url, messages):
                held.forget(message_id)
                report.deleted += 1


def _on_disk(out: IO[str]) -> None:
    out.flush()
    try:
        descriptor = out.fileno()
    except (OSError, io.UnsupportedOperation):
        return  # an in-memory buffer (tests): nothing to sync
    os.fsync(descriptor)


def _delete(sqs: SQSClient, queue_url: str, messages: Sequence[Any]) -> list[str]:
    """Delete the messages; return the ids SQS deleted. A failed delete leaves the message in
    the queue (and held, so released at the end): it is received again and skipped."""
    reply = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ],
    )
    return [messages[int(entry["Id"])]["MessageId"] for entry in reply.get("Successful", [])]


def archive(
    sqs: SQSClient,
    source_arn: str,
    destination_arn: str,
    *,
    rate: int | None = None,
    poll_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Move every message from the dead-letter queue to `destination_arn` (a move task, not a
    purge) and wait for the task to end; returns the task as ListMessageMoveTasks reports it."""
    request: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
    if rate is not None:
        request["MaxNumberOfMessagesPerSecond"] = rate
    handle = sqs.start_message_move_task(**request)["TaskHandle"]
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)["Results"]
        (task,) = [t for t in tasks if t.get("TaskHandle") == handle] or [tasks[0]]
        if task["Status"] in MOVE_TASK_DONE:
            return dict(task)
        sleep(poll_seconds)


def open_private(path: Path) -> IO[str]:
    """A new file only its owner can read or write. os.open's mode is reduced by the umask
    (never widened), and fchmod sets 0600 exactly even under an unusual umask such as 0277."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        return os.fdopen(descriptor, "w", encoding="utf-8")
    except BaseException:
        os.close(descriptor)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_args = commands.add_parser("export", help="write the queue's messages to a file")
    export_args.add_argument("--queue-url", required=True)
    export_args.add_argument("--out", required=True, type=Path)
    export_args.add_argument(
        "--delete", action="store_true", help="delete each message once it is on disk"
    )
    export_args.add_argument(
        "--hold-seconds",
        type=int,
        choices=range(60, 43_201),
        metavar="60-43200",
        default=3600,
        help="visibility timeout of what this export holds (must outlast the export)",
    )
    export_args.add_argument(
        "--wait-seconds",
        type=int,
        choices=range(1, LONG_POLL_SECONDS + 1),
        default=LONG_POLL_SECONDS,
        metavar="1-20",
        help="long-poll wait of each receive (default 20, the SQS maximum)",
    )
    archive_args = commands.add_parser("archive", help="move the DLQ's messages to the archive")
    archive_args.add_argument("--source-arn", required=True)
    archive_args.add_argument("--destination-arn", required=True)
    archive_args.add_argument("--rate", type=int, default=None, help="messages per second")
    args = parser.parse_args(argv)
    sqs: SQSClient = boto3.client("sqs")
    if args.command == "archive":
        task = archive(sqs, args.source_arn, args.destination_arn, rate=args.rate)
        print(json.dumps(task, default=str))
        return 0 if task["Status"] == "COMPLETED" else 1
    try:
        out = open_private(args.out)
    except FileExistsError:
        parser.error(f"{args.out} exists: choose a new file (an export never appends)")
    try:
        with out:
            report = export(
                sqs,
                args.queue_url,
                out,
                delete=args.delete,
                hold_seconds=args.hold_seconds,
                wait_seconds=args.wait_seconds,
            )
    except KeyboardInterrupt:
        # export() has released what it held by now; the file keeps every line written.
        print(f"interrupted: every held message is visible again; {args.out} is incomplete")
        return 130  # the shell's code for a command ended by SIGINT
    print(report.summary())
    if not report.complete:
        print("FEWER messages written than the queue held at the start: do not purge or delete")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
