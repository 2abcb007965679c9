"""SQS events and AppsFlyer payloads for the unit and integration tests, built by the events
generator (scripts/generate_events.py) so that tests and events/*.json share one builder."""

from __future__ import annotations

import json
from typing import Any

from local.appsflyer import PAYLOAD_COLUMNS
from scripts.generate_events import BATCH_TIME, Generator
from scripts.generate_events import sqs_record as generated_sqs_record

# Values the tests assert on, fixed over the generator's payload (seeded: every run builds the
# same one), which supplies the rest of a real event's fields.
_PINNED: dict[str, Any] = {
    "appsflyer_id": "1700000000000-1234567",
    "event_time": "2024-05-01 12:34:56.789",
    "media_source": "organic",
    "event_revenue": "4.99",
    # Tests narrow these columns in a target's table (a VARCHAR(8) city, an INTEGER
    # app_version) to make the database refuse one record's value: the others carry none.
    "city": None,
    "app_version": None,
}
_GENERATED = Generator(seed=1).payload(BATCH_TIME)
# Only fields that have a column, so that `extra` holds exactly what a test adds.
_COLUMNS = {column.name for column in PAYLOAD_COLUMNS}
_BASE_PAYLOAD: dict[str, Any] = {
    **{name: value for name, value in _GENERATED.items() if name in _COLUMNS},
    **_PINNED,
}


def payload(**overrides: Any) -> dict[str, Any]:
    """A realistic AppsFlyer push-API event; keyword arguments replace fields."""
    merged = dict(_BASE_PAYLOAD)
    merged.update(overrides)
    return merged


def sqs_record(body: Any, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return generated_sqs_record(
        text,
        message_id=message_id,
        receipt_handle=f"handle-{message_id}",
        receive_count=receive_count,
        sent_ms=1714566896789,
        first_receive_ms=1714566896800,
    )


def sqs_event(bodies: list[Any], *, prefix: str = "msg", receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            sqs_record(body, f"{prefix}-{index:05d}", receive_count)
            for index, body in enumerate(bodies)
        ]
    }
