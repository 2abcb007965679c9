"""What the dead-letter tools share: messages they hold, released on any exit, and message
attributes in the forms a file and a send need.

A received message is hidden for the receive's visibility timeout. A tool that stopped with
messages still hidden (Ctrl-C, an exception, a lost connection) would leave them invisible for
up to that long, and a move task started meanwhile would skip them; so every message a tool
receives is held here until it is deleted, and whatever is still held is made visible again
(`ChangeMessageVisibility` to 0) however the tool ends.
"""

from __future__ import annotations

import base64
import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

_BATCH_ENTRIES = 10  # ChangeMessageVisibilityBatch's entry limit


@dataclass
class HeldMessages:
    """Receipt handles of the messages a tool received and has not deleted, by message id
    (the latest receive's handle: an earlier one no longer changes the message)."""

    handles: dict[str, str] = field(default_factory=dict)
    # Set when the hold ends: messages that could not be made visible again.
    unreleased: int = 0

    def keep(self, messages: Iterable[Mapping[str, Any]]) -> None:
        for message in messages:
            self.handles[message["MessageId"]] = message["ReceiptHandle"]

    def forget(self, message_id: str) -> None:
        self.handles.pop(message_id, None)

    def __len__(self) -> int:
        return len(self.handles)


@contextlib.contextmanager
def held_until_exit(sqs: SQSClient, queue_url: str) -> Iterator[HeldMessages]:
    """Hold messages for the block; on leaving it by any route, release what is still held."""
    held = HeldMessages()
    try:
        yield held
    finally:
        with _interrupts_deferred():
            held.unreleased = release(sqs, queue_url, held.handles)


def release(sqs: SQSClient, queue_url: str, handles: Mapping[str, str]) -> int:
    """Make the messages visible at once; return how many SQS did not release (another reader
    received them since, so that reader's hold applies, or the call failed)."""
    items = list(handles.values())
    failed = 0
    for start in range(0, len(items), _BATCH_ENTRIES):
        batch = items[start : start + _BATCH_ENTRIES]
        try:
            reply = sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(batch)
                ],
            )
        except (ClientError, BotoCoreError) as error:
            # Releasing is the last thing a tool does, often after an error: report and go on,
            # never hide the error that brought us here behind this one.
            print(f"could not release {len(batch)} messages: {error}", file=sys.stderr)
            failed += len(batch)
            continue
        failed += len(reply.get("Failed", []))
    if failed:
        print(
            f"{failed} held messages were not made visible: they come back when their "
            "visibility timeout ends",
            file=sys.stderr,
        )
    return failed


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """A second Ctrl-C while releasing would strand the rest: it is ignored for these calls."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be changed from the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------- attributes


def attributes_for_file(attributes: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Message attributes as JSON can hold them: a Binary value as base64 text, the form the
    AWS CLI's `--message-attributes` takes for a blob, so an exported line can be sent back as
    it is."""
    return {name: _for_file(value) for name, value in attributes.items()}


def _for_file(attribute: Mapping[str, Any]) -> dict[str, str]:
    kept = _value_fields(attribute)
    if "BinaryValue" in kept:
        kept["BinaryValue"] = base64.b64encode(bytes(kept["BinaryValue"])).decode("ascii")
    return kept


def attributes_from_file(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The reverse of `attributes_for_file`: ready for boto3's SendMessage."""
    decoded: dict[str, dict[str, Any]] = {}
    for name, attribute in attributes.items():
        kept: dict[str, Any] = _value_fields(attribute)
        if "BinaryValue" in kept:
            kept["BinaryValue"] = base64.b64decode(kept["BinaryValue"], validate=True)
        decoded[name] = kept
    return decoded


def attributes_for_send(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Received message attributes as SendMessage takes them: the data type and its one value.
    ReceiveMessage may add empty `StringListValues` / `BinaryListValues`, which SendMessage
    refuses ("reserved for future use", SQS API reference, MessageAttributeValue)."""
    return {name: _value_fields(attribute) for name, attribute in attributes.items()}


def _value_fields(attribute: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {"DataType": attribute["DataType"]}
    for key in ("StringValue", "BinaryValue"):
        if key in attribute:
            kept[key] = attribute[key]
    return kept


def string_attribute(message: Mapping[str, Any], name: str) -> str | None:
    """A String message attribute's value, or None when the message has no such attribute."""
    attribute = message.get("MessageAttributes", {}).get(name)
    if attribute is None or "StringValue" not in attribute:
        return None
    value = attribute["StringValue"]
    return value if isinstance(value, str) else None
