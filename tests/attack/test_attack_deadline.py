"""An endpoint that is slow but never silent: each byte of its reply comes just inside the read
timeout. botocore's read_timeout bounds one socket read, not a call, so one call can take as long
as the endpoint likes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

import app
from local.lambda_context import LambdaContextStub
from tests.integration.conftest import point_the_function_at
from tests.loopback import misbehaving_endpoint

pytestmark = pytest.mark.integration

BYTE_EVERY_SECONDS = 1.0  # under every client's read timeout (control 2 s, SQS 3 s)
TRICKLE_FOR_SECONDS = 16.0  # then the connection is closed (the test must end)


def _trickle_a_reply(connection: socket.socket, stop: threading.Event) -> None:
    with connection:
        connection.settimeout(5)
        try:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            ends = time.monotonic() + TRICKLE_FOR_SECONDS
            while time.monotonic() < ends and not stop.is_set():
                connection.sendall(b" ")
                time.sleep(BYTE_EVERY_SECONDS)
        except OSError:
            return


@pytest.fixture
def trickle() -> Iterator[str]:
    """An HTTP endpoint that reads a request, starts a 200 reply and sends its body one byte a
    second, never finishing it within TRICKLE_FOR_SECONDS."""
    with misbehaving_endpoint(_trickle_a_reply) as url:
        yield url


def test_an_endpoint_trickling_its_reply_cannot_hold_the_function_past_its_deadline(
    trickle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 3: every AWS call is bounded so the invocation returns before remaining time
    minus the margin "even when every endpoint hangs". The suite proves it with an endpoint that
    never answers (a read timeout fires). Here the endpoint answers, one byte a second: no
    single read waits longer than the read timeout, so botocore never times out, and the one
    SendMessageBatch the function allows itself before the hard deadline lasts as long as the
    endpoint keeps sending. Lambda kills the function at its timeout: the batch's outcome
    (rows already committed, letters not sent) is never reported, and everything is redelivered.
    Expected: the call is abandoned at the hard deadline."""
    point_the_function_at(trickle, monkeypatch, margin_seconds=2)
    # A batch of one record that can only be dead-lettered: one SQS call, no Data API call
    event = {
        "Records": [
            {
                "messageId": "5b4c2d1e-0000-4000-8000-000000000001",
                "body": "{not json",
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
            }
        ]
    }
    remaining_ms, margin = 12_000, 2.0
    started = time.monotonic()
    try:
        app.lambda_handler(event, LambdaContextStub(remaining_ms=remaining_ms))
    except app.BatchNotProcessed:
        pass
    finally:
        app.ingest.cache_clear()
    elapsed = time.monotonic() - started
    print(f"returned after {elapsed:.2f} s of {remaining_ms / 1000 - margin:.1f} s")
    assert elapsed < remaining_ms / 1000 - margin
