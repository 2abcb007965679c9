"""Send dead letters back to the source queue one by one, each carrying the attributes that
stop a target from writing it twice. Operators run it (docs/runbook.md, "Redriving"); it is not
part of the function. Usage::

    # records SQS itself moved after maxReceiveCount (no `reason` attribute): a dry run
    python scripts/dlq_resend.py --dlq-url "$DLQ_URL" --queue-url "$QUEUE_URL" \\
        --failed-targets secondary
    # the same, for real
    python scripts/dlq_resend.py --dlq-url "$DLQ_URL" --queue-url "$QUEUE_URL" \\
        --failed-targets secondary --send
    # only the function's own letters of one reason (e.g. receives_exhausted), as they are
    python scripts/dlq_resend.py --dlq-url "$DLQ_URL" --queue-url "$QUEUE_URL" \\
        --reason receives_exhausted --send

Why not a move task for the first kind: a moved message gets a new message id (SQS developer
guide, "Learn how to configure a dead-letter queue redrive": "All redriven messages are
considered new messages with a new messageID"), so a record SQS moved, which carries none of the
function's attributes, would be written again to every target under that new id. But SQS moves
a message to the dead-letter queue "with its original message ID" (SQS developer guide, "Amazon
SQS dead-letter queues"; moto does the same, tests/integration/test_dlq_resend.py checks it):
its id in the DLQ is the id the targets that took it hold in `sqs_message_id`. Sent back with
`original_message_id` = that id, the record is looked up in each target and written only where
it is missing; `failed_targets` narrows that to the targets the operator names.

Each message is deleted from the DLQ only after its send succeeded; a message whose send failed
stays there. Without `--send` nothing is sent or deleted: the plan is printed (message ids and
target names only, never a body). Every message received is made visible again on any exit
(scripts/dlq_messages.py). Exit code 1 when a selected message could not be sent.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from scripts.dlq_messages import (
    HeldMessages,
    attributes_for_send,
    held_until_exit,
    string_attribute,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

LONG_POLL_SECONDS = 20  # the SQS maximum
# The function's own rule for the attribute (src/handler/ingest/records.py, _TARGET_LIST):
# anything else would be dead-lettered as invalid_redrive.
_TARGET_LIST = re.compile(r"[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*")


@dataclass(frozen=True)
class Selection:
    """Which dead letters to resend: those SQS moved (no `reason`), or the function's letters of
    one reason."""

    reason: str | None = None

    def wants(self, message: Mapping[str, Any]) -> bool:
        return string_attribute(message, "reason") == self.reason


@dataclass(frozen=True)
class Resend:
    """One dead letter as it goes back: its DLQ id, the id a target holds it under, and the
    targets it is owed (None: every target, each asked first)."""

    dlq_message_id: str
    original_message_id: str
    failed_targets: str | None

    def describe(self) -> str:
        targets = self.failed_targets or "every target (each looked up first)"
        return (
            f"{self.dlq_message_id}: original_message_id={self.original_message_id}, "
            f"failed_targets={targets}"
        )


def plan(message: Mapping[str, Any], failed_targets: str | None) -> Resend:
    """What a dead letter is sent back as. Attributes it already carries (a letter of the
    function's, or one of them that SQS moved on) are the function's own knowledge and win
    over the operator's `failed_targets`."""
    return Resend(
        dlq_message_id=message["MessageId"],
        original_message_id=string_attribute(message, "original_message_id")
        or message["MessageId"],
        failed_targets=string_attribute(message, "failed_targets") or failed_targets,
    )


def request(message: Mapping[str, Any], resend: Resend, queue_url: str) -> dict[str, Any]:
    """The SendMessage request: the body unchanged, every attribute kept, ours set."""
    attributes = attributes_for_send(message.get("MessageAttributes", {}))
    attributes["original_message_id"] = _string(resend.original_message_id)
    if resend.failed_targets:
        attributes["failed_targets"] = _string(resend.failed_targets)
    return {"QueueUrl": queue_url, "MessageBody": message["Body"], "MessageAttributes": attributes}


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


@dataclass
class ResendReport:
    selected: int = 0
    sent: int = 0
    send_failures: int = 0
    delete_failures: int = 0  # sent, but still in the DLQ: a second letter if resent later
    not_selected: int = 0
    unreleased: int = 0
    planned: list[Resend] = field(default_factory=list)

    def summary(self, send: bool) -> str:
        verb = "sent back" if send else "would send back (dry run: nothing sent)"
        return (
            f"{self.selected} selected, {verb} {self.sent if send else len(self.planned)}; "
            f"{self.send_failures} send failures, {self.delete_failures} sent but not deleted "
            f"from the DLQ; {self.not_selected} other messages left in place"
            + (f"; {self.unreleased} not made visible again" if self.unreleased else "")
        )


@dataclass(frozen=True)
class Options:
    selection: Selection = Selection()
    failed_targets: str | None = None
    send: bool = False
    hold_seconds: int = 600
    wait_seconds: int = LONG_POLL_SECONDS
    empty_polls: int = 2  # consecutive empty long polls with nothing visible: done
    echo: Callable[[str], None] = print


def resend(sqs: SQSClient, dlq_url: str, queue_url: str, options: Options) -> ResendReport:
    """Resend the selected dead letters of `dlq_url` to `queue_url` (see the module docstring)."""
    report = ResendReport()
    with held_until_exit(sqs, dlq_url) as held:
        _resend_held(sqs, dlq_url, queue_url, options, held=held, report=report)
    report.unreleased = held.unreleased
    return report


def _resend_held(
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    options: Options,
    *,
    held: HeldMessages,
    report: ResendReport,
) -> None:
    seen: set[str] = set()
    sent: set[str] = set()  # sent but not deleted: if received again, deleted, never resent
    empty = 0
    while empty < options.empty_polls:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=options.wait_seconds,
            VisibilityTimeout=options.hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        held.keep(messages)  # before anything else can fail: released on any exit
        if not messages:
            empty = empty + 1 if _nothing_visible(sqs, dlq_url) else 0
            continue
        empty = 0
        for message in messages:
            message_id = message["MessageId"]
            first_time = message_id not in seen
            seen.add(message_id)
            if not options.selection.wants(message):
                if first_time:
                    report.not_selected += 1
                continue
            if message_id in sent:
                _delete(sqs, dlq_url, message, held, report)
                continue
            if not first_time:
                continue  # a dry run sees a message again only when its hold ran out
            report.selected += 1
            resend_plan = plan(message, options.failed_targets)
            report.planned.append(resend_plan)
            options.echo(("resend " if options.send else "would resend ") + resend_plan.describe())
            if not options.send:
                continue
            try:
                sqs.send_message(**request(message, resend_plan, queue_url))
            except (ClientError, BotoCoreError) as error:
                report.send_failures += 1
                options.echo(f"send failed for {message_id}, left in the DLQ: {_code(error)}")
                continue
            sent.add(message_id)
            report.sent += 1
            _delete(sqs, dlq_url, message, held, report)


def _delete(
    sqs: SQSClient,
    dlq_url: str,
    message: Mapping[str, Any],
    held: HeldMessages,
    report: ResendReport,
) -> None:
    try:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    except (ClientError, BotoCoreError):
        report.delete_failures += 1  # released at the end; deleted if received again
        return
    held.forget(message["MessageId"])


def _nothing_visible(sqs: SQSClient, dlq_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) == 0


def _code(error: Exception) -> str:
    """An error's code only: SQS errors never carry a body, but keep the line short."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


def _target_list(text: str) -> str:
    if not _TARGET_LIST.fullmatch(text):
        raise argparse.ArgumentTypeError("a comma-separated list of target names")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dlq-url", required=True, help="the dead-letter queue to read")
    parser.add_argument("--queue-url", required=True, help="the source queue to send to")
    parser.add_argument(
        "--failed-targets",
        type=_target_list,
        default=None,
        help="targets that lack the records (e.g. secondary); letters that name their own keep "
        "theirs. Without it, every target is asked and only the ones lacking a record take it",
    )
    parser.add_argument(
        "--reason",
        default=None,
        help="resend the function's letters of this reason instead of the records SQS moved",
    )
    parser.add_argument("--send", action="store_true", help="send for real (default: dry run)")
    parser.add_argument(
        "--hold-seconds",
        type=int,
        choices=range(60, 43_201),
        metavar="60-43200",
        default=600,
        help="visibility timeout of what this run holds (released at the end in any case)",
    )
    args = parser.parse_args(argv)
    if args.reason is not None and args.failed_targets is not None:
        parser.error("--failed-targets is for records SQS moved; letters name their own")
    options = Options(
        selection=Selection(args.reason),
        failed_targets=args.failed_targets,
        send=args.send,
        hold_seconds=args.hold_seconds,
    )
    sqs: SQSClient = boto3.client("sqs")
    try:
        report = resend(sqs, args.dlq_url, args.queue_url, options)
    except KeyboardInterrupt:
        print("interrupted: every message not sent is visible again in the DLQ")
        return 130  # the shell's code for a command ended by SIGINT
    print(report.summary(args.send))
    return 1 if report.send_failures else 0


if __name__ == "__main__":
    sys.exit(main())
