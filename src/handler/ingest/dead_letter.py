"""Sends permanently bad records to the dead-letter queue, body unchanged, reason attached."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.bounded_call import call_within
from ingest.deadline import Deadline
from ingest.limits import BATCH_BYTES, BATCH_ENTRIES, DEAD_LETTER_MAX_BYTES
from ingest.masking import mask
from ingest.records import Reason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

_DETAIL_MAX = 1024  # reason_detail is for reading, not for forensics


@dataclass(frozen=True)
class DeadLetter:
    message_id: str  # the delivery's id: what SQS is answered about
    record_id: str  # the record's identity, carried as original_message_id for a redrive
    body: str
    reason: Reason
    detail: str
    failed_targets: tuple[str, ...] = ()


class DeadLetterQueue:
    def __init__(self, client: SQSClient, queue_url: str, *, call_seconds: float = 5.0) -> None:
        self._client = client
        self._queue_url = queue_url
        self._call_seconds = call_seconds  # the client's connect + read timeout, one attempt

    def send(self, letters: Sequence[DeadLetter], deadline: Deadline) -> set[str]:
        """Send every letter that time allows; return the message ids that were not sent."""
        failed: set[str] = set()
        for chunk in _chunks([(letter, entry_for(letter)) for letter in letters]):
            if not deadline.allows(self._call_seconds):
                failed.update(letter.message_id for letter, _ in chunk)
                continue
            entries: list[Any] = [{**entry, "Id": str(i)} for i, (_, entry) in enumerate(chunk)]
            try:
                send = functools.partial(
                    self._client.send_message_batch, QueueUrl=self._queue_url, Entries=entries
                )
                response = call_within(self._call_seconds, send)
            except (ClientError, BotoCoreError):
                failed.update(letter.message_id for letter, _ in chunk)
                continue
            for failure in response.get("Failed", []):
                failed.add(chunk[int(failure["Id"])][0].message_id)
        return failed


def entry_for(letter: DeadLetter) -> dict[str, Any]:
    """The SendMessageBatch entry (without its Id): the body as received, the reason masked,
    and a reason_detail cut so that body plus attributes fit one SQS message."""
    attributes: dict[str, Any] = {
        "reason": _string(letter.reason.value),
        "original_message_id": _string(letter.record_id),
    }
    if letter.failed_targets:
        attributes["failed_targets"] = _string(",".join(letter.failed_targets))
    room = DEAD_LETTER_MAX_BYTES - message_size(letter.body, attributes)
    room -= len("reason_detail") + len("String")
    detail = mask(letter.detail, _DETAIL_MAX) or letter.reason.value
    while detail and len(detail.encode("utf-8")) > room:
        detail = detail[: max(0, min(len(detail) - 1, room - 1))]
    if detail:
        attributes["reason_detail"] = _string(detail)
    return {"MessageBody": letter.body, "MessageAttributes": attributes}


def message_size(body: str, attributes: dict[str, Any]) -> int:
    """Bytes SQS counts: the body, and each attribute's name, data type and value."""
    size = len(body.encode("utf-8"))
    for name, attribute in attributes.items():
        size += len(name) + len(attribute["DataType"])
        size += len(attribute["StringValue"].encode("utf-8"))
    return size


def _chunks(
    entries: Sequence[tuple[DeadLetter, dict[str, Any]]],
) -> list[list[tuple[DeadLetter, dict[str, Any]]]]:
    chunks: list[list[tuple[DeadLetter, dict[str, Any]]]] = []
    current: list[tuple[DeadLetter, dict[str, Any]]] = []
    size = 0
    for letter, entry in entries:
        entry_size = message_size(entry["MessageBody"], entry["MessageAttributes"])
        if current and (len(current) == BATCH_ENTRIES or size + entry_size > BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((letter, entry))
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}
