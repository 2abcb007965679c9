"""The function answers before its deadline even when every AWS endpoint hangs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

import app
from local.lambda_context import LambdaContextStub
from tests.integration.conftest import point_the_function_at
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An HTTP endpoint that accepts connections and reads requests, and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)  # kept open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_every_endpoint_hanging_still_returns_before_remaining_time_minus_margin(
    black_hole: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every endpoint the function calls hangs (Data API and SQS alike)
    point_the_function_at(black_hole, monkeypatch, margin_seconds=2)
    # and a batch that needs every kind of call: writes, a presence check, a dead letter
    event = sqs_event([payload(), payload(), "{not json"])
    event["Records"][1]["attributes"]["ApproximateReceiveCount"] = "2"
    remaining_ms, margin = 24_000, 2.0
    # When the handler runs
    started = time.monotonic()
    try:
        with pytest.raises(app.BatchNotProcessed):
            app.lambda_handler(event, LambdaContextStub(remaining_ms=remaining_ms))
    finally:
        app.ingest.cache_clear()
    elapsed = time.monotonic() - started
    # Then it gave up on every hung call in time and answered before remaining - margin
    print(f"returned after {elapsed:.2f} s of {remaining_ms / 1000 - margin:.1f} s")
    assert elapsed < remaining_ms / 1000 - margin
