"""Sends permanently bad records to the dead-letter queue, body unchanged, reason attached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.records import Reason

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

_BATCH_ENTRIES = 10  # SendMessageBatch's entry limit
_BATCH_BYTES = 256 * 1024  # the classic batch payload limit, whatever the queue's own maximum
_ATTRIBUTE_MAX = 1024  # keep reasons readable; the full database error is rarely longer


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    reason: Reason
    detail: str
    failed_targets: tuple[str, ...] = ()


class DeadLetterQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, letters: Sequence[DeadLetter]) -> set[str]:
        """Send every letter; return the message ids that could not be sent."""
        failed: set[str] = set()
        for chunk in _chunks(letters):
            entries = [_entry(index, letter) for index, letter in enumerate(chunk)]
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except (ClientError, BotoCoreError):
                failed.update(letter.message_id for letter in chunk)
                continue
            for failure in response.get("Failed", []):
                failed.add(chunk[int(failure["Id"])].message_id)
        return failed


def _chunks(letters: Sequence[DeadLetter]) -> list[list[DeadLetter]]:
    chunks: list[list[DeadLetter]] = []
    current: list[DeadLetter] = []
    size = 0
    for letter in letters:
        letter_size = len(letter.body.encode("utf-8")) + len(letter.detail) + 256
        if current and (len(current) == _BATCH_ENTRIES or size + letter_size > _BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(letter)
        size += letter_size
    if current:
        chunks.append(current)
    return chunks


def _entry(index: int, letter: DeadLetter) -> Any:
    attributes: dict[str, Any] = {
        "reason": _string(letter.reason.value),
        "reason_detail": _string(letter.detail[:_ATTRIBUTE_MAX] or letter.reason.value),
        "original_message_id": _string(letter.message_id),
    }
    if letter.failed_targets:
        attributes["failed_targets"] = _string(",".join(letter.failed_targets))
    return {"Id": str(index), "MessageBody": letter.body, "MessageAttributes": attributes}


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}
