"""Multi-target bookkeeping in DynamoDB: which targets already hold a redelivered record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_GET_CHUNK = 100  # BatchGetItem's key limit
_PUT_CHUNK = 25  # BatchWriteItem's item limit
_ATTEMPTS = 4  # for unprocessed keys/items, which DynamoDB returns under load


class LedgerError(Exception):
    """The ledger could not be read or written."""


class Ledger:
    """Items (message_id, target) are written only on split outcomes and read only on redelivery,
    so the common path (every target succeeds first time) never touches DynamoDB."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        ttl_days: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._ttl_seconds = ttl_days * 86_400
        self._clock = clock
        self._sleep = sleep

    def targets_holding(
        self, message_ids: Sequence[str], targets: Sequence[str]
    ) -> dict[str, set[str]]:
        """For each message id, the targets the ledger says already hold it."""
        keys = [_key(m, t) for m in message_ids for t in targets]
        held: dict[str, set[str]] = {}
        for start in range(0, len(keys), _GET_CHUNK):
            for item in self._get(keys[start : start + _GET_CHUNK]):
                held.setdefault(item["message_id"]["S"], set()).add(item["target"]["S"])
        return held

    def record(self, entries: Iterable[tuple[str, str]]) -> None:
        """Remember that each (message id, target) was written."""
        expires_at = str(int(self._clock()) + self._ttl_seconds)
        requests = [
            {"PutRequest": {"Item": {**_key(m, t), "expires_at": {"N": expires_at}}}}
            for m, t in entries
        ]
        for start in range(0, len(requests), _PUT_CHUNK):
            self._put(requests[start : start + _PUT_CHUNK])

    def _get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(_ATTEMPTS):
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise LedgerError(f"ledger read failed: {exc}") from exc
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                return items
            self._sleep(0.05 * 2**attempt)
        raise LedgerError("ledger read left keys unprocessed after retries")

    def _put(self, requests: list[dict[str, Any]]) -> None:
        # A lost ledger write means a duplicate row on redelivery: try harder than for reads.
        pending: dict[str, Any] = {self._table: requests}
        failure = "items left unprocessed"
        for attempt in range(_ATTEMPTS):
            try:
                response = self._client.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                failure = str(exc)
            else:
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    return
            self._sleep(0.05 * 2**attempt)
        raise LedgerError(f"ledger write failed after {_ATTEMPTS} attempts: {failure}")


def _key(message_id: str, target: str) -> dict[str, Any]:
    return {"message_id": {"S": message_id}, "target": {"S": target}}
