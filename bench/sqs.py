"""An in-memory SQS queue: receive hides messages for a visibility timeout, delete acknowledges."""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from bench.prices import SQS_CHUNK_BYTES

_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-queue"
# SQS's batch calls (SendMessageBatch, ReceiveMessage, DeleteMessageBatch) take at most 10
# messages; each 64 KB chunk of a call's payload is billed as one request (bench/prices.py).
_MESSAGES_PER_CALL = 10
_LONG_POLL_SECONDS = 0.5  # how long an empty receive waits before returning nothing
_WAIT_STEP_SECONDS = 0.05  # re-check of visibility expiries while waiting


@dataclass
class _Message:
    message_id: str
    body: str
    sent_at: float
    receive_count: int = 0
    receipt: int = 0  # which receive currently holds it; 0 = none
    acknowledged: bool = False


@dataclass(frozen=True)
class Received:
    """One message as one receive handed it out; `receipt` identifies that receive."""

    message_id: str
    receipt: int
    record: dict[str, Any]  # the SQS event record a Lambda function (or a worker) sees


class SimulatedQueue:
    """Standard-queue semantics that matter here: at-least-once delivery, visibility timeout,
    redelivery of whatever was not deleted, receive counts. Each call costs `call_seconds`, as
    a round trip to SQS would."""

    def __init__(self, visibility_timeout: float, call_seconds: float = 0.01) -> None:
        self.visibility_timeout = visibility_timeout
        self.call_seconds = call_seconds
        self._cond = threading.Condition()
        self._messages: dict[str, _Message] = {}
        self._visible: deque[str] = deque()
        # (visible again at, receipt, id): the receipt tells a live entry from a deleted one.
        self._in_flight: list[tuple[float, int, str]] = []
        self._receipts = 0
        self._acknowledged = 0
        self._stale_deletes = 0
        self._billed: dict[str, int] = {"send": 0, "receive": 0, "delete": 0}

    def send_many(self, bodies: list[str]) -> list[str]:
        now = time.time()
        ids = [str(uuid.uuid4()) for _ in bodies]
        with self._cond:
            for message_id, body in zip(ids, bodies, strict=True):
                self._messages[message_id] = _Message(message_id, body, now)
                self._visible.append(message_id)
            self._billed["send"] += _billed_calls([len(b.encode()) for b in bodies])
            self._cond.notify_all()
        return ids

    def receive(self, max_messages: int, window: float, stop: threading.Event) -> list[Received]:
        """Up to `max_messages`; with a window, wait up to `window` s for a fuller batch."""
        time.sleep(self.call_seconds)
        with self._cond:
            give_up = time.monotonic() + _LONG_POLL_SECONDS
            while not self._ready_locked(1):
                if stop.is_set() or time.monotonic() >= give_up:
                    self._billed["receive"] += 1  # an empty receive is billed too
                    return []
                self._cond.wait(_WAIT_STEP_SECONDS)
            fill_until = time.monotonic() + window
            while not self._ready_locked(max_messages) and not stop.is_set():
                left = fill_until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, _WAIT_STEP_SECONDS))
            handed = [self._hand_out_locked() for _ in range(min(max_messages, len(self._visible)))]
            sizes = [len(item.record["body"].encode()) for item in handed]
            self._billed["receive"] += _billed_calls(sizes)
            return handed

    def delete(self, received: list[Received]) -> None:
        """Acknowledge; a receipt from an earlier receive of a redelivered message is stale."""
        time.sleep(self.call_seconds)
        with self._cond:
            self._billed["delete"] += -(-len(received) // _MESSAGES_PER_CALL)
            for item in received:
                message = self._messages[item.message_id]
                if message.acknowledged or message.receipt != item.receipt:
                    self._stale_deletes += 1
                    continue
                message.acknowledged = True
                self._acknowledged += 1

    def _ready_locked(self, count: int) -> bool:
        self._redeliver_locked()
        return len(self._visible) >= count

    def _redeliver_locked(self) -> None:
        now = time.time()
        while self._in_flight and self._in_flight[0][0] <= now:
            _, receipt, message_id = heapq.heappop(self._in_flight)
            message = self._messages[message_id]
            if not message.acknowledged and message.receipt == receipt:
                self._visible.append(message_id)

    def _hand_out_locked(self) -> Received:
        message = self._messages[self._visible.popleft()]
        self._receipts += 1
        message.receipt = self._receipts
        message.receive_count += 1
        visible_again = time.time() + self.visibility_timeout
        heapq.heappush(self._in_flight, (visible_again, message.receipt, message.message_id))
        return Received(message.message_id, message.receipt, _record(message))

    # ---- what the benchmark reads -------------------------------------------------------------

    def acknowledged_ids(self) -> set[str]:
        with self._cond:
            return {m.message_id for m in self._messages.values() if m.acknowledged}

    def all_acknowledged(self) -> bool:
        with self._cond:
            return self._acknowledged == len(self._messages)

    def redeliveries(self) -> int:
        """Receives beyond each message's first."""
        with self._cond:
            return sum(max(0, m.receive_count - 1) for m in self._messages.values())

    def stale_deletes(self) -> int:
        with self._cond:
            return self._stale_deletes

    def sent_at(self) -> dict[str, float]:
        """When each message was sent (unix time)."""
        with self._cond:
            return {m.message_id: m.sent_at for m in self._messages.values()}

    def billed_requests(self) -> dict[str, int]:
        """SQS requests as AWS bills them, per kind: calls of up to 10 messages, each counted
        once per 64 KB chunk of its bodies; an empty receive counts one."""
        with self._cond:
            return dict(self._billed)


def _billed_calls(sizes: list[int]) -> int:
    """Billed requests of sending or receiving messages of these sizes, 10 per call."""
    billed = 0
    for start in range(0, len(sizes), _MESSAGES_PER_CALL):
        payload = sum(sizes[start : start + _MESSAGES_PER_CALL])
        billed += max(1, -(-payload // SQS_CHUNK_BYTES))
    return billed


def _record(message: _Message) -> dict[str, Any]:
    return {
        "messageId": message.message_id,
        "receiptHandle": f"bench-{message.message_id}-{message.receipt}",
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent_at * 1000)),
        },
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": _QUEUE_ARN,
        "awsRegion": "us-east-1",
    }
