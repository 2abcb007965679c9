"""Deletes dead-lettered records from the queue they came from, as soon as their letter is sent.

Lambda deletes a batch's successful records only after the function returns. A record whose
letter was sent would otherwise be delivered again (and dead-lettered again) if the invocation
were killed before it returned; deleting it at once leaves only the milliseconds between the
two calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.bounded_call import call_within
from ingest.deadline import Deadline
from ingest.limits import BATCH_ENTRIES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

_QUEUE_ARN = re.compile(r"arn:(aws[a-z-]*):sqs:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9_.-]{1,80})")
# Each partition's DNS suffix (botocore's endpoints data); others use the commercial one.
_DOMAINS = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
}


@dataclass(frozen=True)
class Receipt:
    message_id: str
    receipt_handle: str
    source_arn: str


def queue_url(arn: str) -> str | None:
    """The queue URL an SQS queue ARN names (SQS accepts this form in every region)."""
    match = _QUEUE_ARN.fullmatch(arn)
    if match is None:
        return None
    partition, region, account, name = match.groups()
    domain = _DOMAINS.get(partition, "amazonaws.com")
    return f"https://sqs.{region}.{domain}/{account}/{name}"


class SourceQueue:
    def __init__(self, client: SQSClient, *, call_seconds: float) -> None:
        self._client = client
        self._call_seconds = call_seconds

    def delete(self, receipts: Sequence[Receipt], deadline: Deadline) -> set[str]:
        """Delete what time allows; return the message ids that were not deleted."""
        left: set[str] = set()
        by_queue: dict[str, list[Receipt]] = {}
        for receipt in receipts:
            url = queue_url(receipt.source_arn)
            if url is None:
                left.add(receipt.message_id)
            else:
                by_queue.setdefault(url, []).append(receipt)
        for url, queued in by_queue.items():
            for start in range(0, len(queued), BATCH_ENTRIES):
                chunk = queued[start : start + BATCH_ENTRIES]
                left |= self._delete(url, chunk, deadline)
        return left

    def _delete(self, url: str, chunk: Sequence[Receipt], deadline: Deadline) -> set[str]:
        ids = {r.message_id for r in chunk}
        if not deadline.allows(self._call_seconds):
            return ids
        entries: list[Any] = [
            {"Id": str(i), "ReceiptHandle": r.receipt_handle} for i, r in enumerate(chunk)
        ]
        try:
            response = call_within(
                self._call_seconds,
                lambda: self._client.delete_message_batch(QueueUrl=url, Entries=entries),
            )
        except (ClientError, BotoCoreError):
            return ids
        return {chunk[int(failure["Id"])].message_id for failure in response.get("Failed", [])}
