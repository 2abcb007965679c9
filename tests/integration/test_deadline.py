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
from tests.loopback import misbehaving_endpoint
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration


def _never_answer(connection: socket.socket, stop: threading.Event) -> None:
    with connection:  # read nothing, answer nothing, until the endpoint closes
        stop.wait()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An HTTP endpoint that accepts connections and never answers."""
    with misbehaving_endpoint(_never_answer) as url:
        yield url


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
