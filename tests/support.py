"""Builders for SQS events and AppsFlyer payloads shared by the unit and integration tests."""

from __future__ import annotations

import json
from typing import Any

_BASE_PAYLOAD: dict[str, Any] = {
    "appsflyer_id": "1700000000000-1234567",
    "event_name": "af_purchase",
    "event_time": "2024-05-01 12:34:56.789",
    "event_time_selected_timezone": "2024-05-01 14:34:56.789+0200",
    "customer_user_id": "user-42",
    "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "app_id": "id1234567890",
    "app_name": "Example Shop",
    "platform": "ios",
    "country_code": "DE",
    "ip": "203.0.113.7",
    "wifi": True,
    "is_retargeting": "false",
    "event_revenue": "4.99",
    "event_revenue_currency": "EUR",
    "event_value": json.dumps({"af_revenue": "4.99", "af_content_id": "sku-1"}),
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
    "media_source": "organic",
    "http_referrer": "",
    "city": None,
}


def payload(**overrides: Any) -> dict[str, Any]:
    """A realistic AppsFlyer push-API event; keyword arguments replace fields."""
    merged = dict(_BASE_PAYLOAD)
    merged.update(overrides)
    return merged


def sqs_record(body: Any, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1714566896789",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1714566896800",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:appsflyer-events",
        "awsRegion": "us-east-1",
    }


def sqs_event(bodies: list[Any], *, prefix: str = "msg", receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            sqs_record(body, f"{prefix}-{index:05d}", receive_count)
            for index, body in enumerate(bodies)
        ]
    }
