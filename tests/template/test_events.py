"""events/*.json: well-formed SQS events, current with their generator, realistic as claimed."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from ingest.records import Row, read_message
from ingest.schema import ColumnKind
from local.appsflyer import PAYLOAD_COLUMNS, validate
from local.appsflyer import render as render_rows
from scripts.generate_events import (
    COUPON_COLUMN_BYTES,
    COUPON_COLUMN_DDL,
    EVENTS_DIR,
    EXPECTED_FILE,
    INVOKE_PAYLOAD_LIMIT,
    ORDERS_COUPON_EXPECTED_FILE,
    ORDERS_COUPON_FILE,
    ORDERS_EXPECTED_FILE,
    ORDERS_FILE,
    build_events,
    render,
)

pytestmark = pytest.mark.template

EVENT_FILES = sorted(EVENTS_DIR.glob("sqs-*.json"))
EXPECTED: dict[str, Any] = json.loads((EVENTS_DIR / EXPECTED_FILE).read_text(encoding="utf-8"))
_QUEUE_ARN = re.compile(r"^arn:aws:sqs:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,80}$")
# Payload fields without a column: the function keeps them in `extra`.
_KNOWN_EXTRAS = {"att", "app_type", "blocked_reason", "is_organic", "debug_snapshot"}
_STATEMENT_LIMITS = {"max_bytes": 100_000, "max_parameters": 32_767}
PAYLOAD_COLUMN_NAMES = {column.name for column in PAYLOAD_COLUMNS}


def _load(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


def _records(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = _load(EVENTS_DIR / name)["Records"]
    return records


def _payloads(name: str) -> list[dict[str, Any]]:
    return [json.loads(record["body"]) for record in _records(name)]


def _outcomes(records: list[dict[str, Any]]) -> tuple[list[Row], dict[str, str]]:
    """What the function's own validation and statement packing make of the records."""
    rows: list[Row] = []
    rejected: dict[str, str] = {}
    for record in records:
        outcome = validate(read_message(record))
        if isinstance(outcome, Row):
            rows.append(outcome)
        else:
            rejected[outcome.message_id] = outcome.reason.value
    rendering = render_rows(rows, **_STATEMENT_LIMITS)
    rejected.update({row.message_id: "record_too_large" for row in rendering.oversized})
    return [r for r in rows if r.message_id not in rejected], rejected


def test_every_file_the_tests_expect_exists() -> None:
    assert {path.name for path in EVENT_FILES} == set(EXPECTED)


def test_files_are_what_the_generator_writes() -> None:
    for name, data in build_events().items():
        on_disk = (EVENTS_DIR / name).read_text(encoding="utf-8")
        assert on_disk == render(data), f"{name} drifted: run `python -m scripts.generate_events`"


@pytest.mark.parametrize(
    "path",
    [*EVENT_FILES, EVENTS_DIR / ORDERS_FILE, EVENTS_DIR / ORDERS_COUPON_FILE],
    ids=lambda p: p.name,
)
def test_file_is_a_well_formed_sqs_event(path: Path) -> None:
    event = _load(path)
    assert set(event) == {"Records"}
    records = event["Records"]
    assert records
    ids = [record["messageId"] for record in records]
    assert len(set(ids)) == len(ids), "messageIds must be unique within a batch"
    for record in records:
        assert set(record) == {
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        }
        assert uuid.UUID(record["messageId"]).version == 4
        assert record["receiptHandle"].startswith("AQEB")
        assert isinstance(record["body"], str)
        digest = hashlib.md5(record["body"].encode("utf-8"), usedforsecurity=False).hexdigest()
        assert record["md5OfBody"] == digest
        assert record["eventSource"] == "aws:sqs"
        arn = _QUEUE_ARN.match(record["eventSourceARN"])
        assert arn, record["eventSourceARN"]
        assert arn["region"] == record["awsRegion"]
        attributes = record["attributes"]
        assert int(attributes["ApproximateReceiveCount"]) >= 1
        sent = int(attributes["SentTimestamp"])
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= sent
        assert attributes["SenderId"]
        assert isinstance(record["messageAttributes"], dict)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.name)
def test_the_function_does_exactly_what_expected_outcomes_says(path: Path) -> None:
    rows, rejected = _outcomes(_records(path.name))
    assert rejected == EXPECTED[path.name]["dead_lettered"]
    assert len(rows) + len(rejected) == len(_records(path.name))


def test_clean_batch_is_ten_realistic_appsflyer_records() -> None:
    payloads = _payloads("sqs-clean-batch.json")
    assert len(payloads) == 10
    fields = {key for payload in payloads for key in payload}
    assert {"appsflyer_id", "event_name", "event_time"} <= fields
    assert fields - PAYLOAD_COLUMN_NAMES <= _KNOWN_EXTRAS
    assert fields - PAYLOAD_COLUMN_NAMES, "some fields must have no column (the `extra` SUPER)"
    values = [value for payload in payloads for value in payload.values()]
    assert None in values
    assert "" in values
    assert {payload["platform"] for payload in payloads} == {"ios", "android"}
    user_agents = [payload["user_agent"].encode("utf-8") for payload in payloads]
    assert max(len(agent) for agent in user_agents) > 256, "a user agent TEXT would truncate"
    event_values = [p["event_value"] for p in payloads if p["event_value"]]
    assert event_values
    for encoded in event_values:
        assert isinstance(encoded, str)
        assert isinstance(json.loads(encoded), dict)  # a JSON document encoded as a string
    for payload in payloads:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", payload["event_time"])


def test_clean_records_use_every_kind_of_typed_value() -> None:
    payloads = _payloads("sqs-clean-batch.json") + _payloads("sqs-large-batch.json")
    kinds = {column.name: column.kind for column in PAYLOAD_COLUMNS}
    booleans = [p[k] for p in payloads for k in p if kinds.get(k) is ColumnKind.BOOLEAN]
    assert {True, False, "true", "false"} <= set(booleans)
    decimals = [p[k] for p in payloads for k in p if kinds.get(k) is ColumnKind.DECIMAL]
    assert any(isinstance(v, str) for v in decimals)
    assert any(isinstance(v, float) for v in decimals)
    selected = [p["event_time_selected_timezone"] for p in payloads]
    assert all(re.search(r"[+-]\d{4}$", value) for value in selected)


def test_mixed_batch_has_one_poison_record_per_rule_among_good_ones() -> None:
    records = _records("sqs-mixed-batch.json")
    reasons = EXPECTED["sqs-mixed-batch.json"]["dead_lettered"]
    assert sorted(reasons.values()) == sorted(
        {
            "invalid_json",
            "not_an_object",
            "missing_required_field",
            "invalid_timestamp",
            "invalid_boolean",
            "invalid_decimal",
            "value_too_long",
            "nul_character",
            "invalid_unicode",
            "record_too_large",
        }
    )
    good = [record for record in records if record["messageId"] not in reasons]
    assert len(good) >= 10
    # The poison is spread through the batch, not appended at the end.
    positions = [i for i, record in enumerate(records) if record["messageId"] in reasons]
    assert positions != list(range(len(good), len(records)))


def test_large_batch_is_several_hundred_records_within_the_invoke_payload_limit() -> None:
    path = EVENTS_DIR / "sqs-large-batch.json"
    records = _records(path.name)
    assert 300 <= len(records) <= 10_000
    compact = json.dumps(_load(path), separators=(",", ":")).encode("utf-8")
    assert len(compact) < INVOKE_PAYLOAD_LIMIT
    # It must exercise splitting: more rows than one 100 KB statement holds.
    rows, _ = _outcomes(records)
    statements = render_rows(rows, **_STATEMENT_LIMITS).statements
    assert len(statements) > 1


def test_redelivered_batch_is_the_clean_batch_received_again() -> None:
    again = _records("sqs-redelivered-batch.json")
    first = _records(EXPECTED["sqs-redelivered-batch.json"]["redelivery_of"])
    assert all(int(record["attributes"]["ApproximateReceiveCount"]) > 1 for record in again)
    assert [r["messageId"] for r in again] == [r["messageId"] for r in first]
    assert [r["body"] for r in again] == [r["body"] for r in first]
    # A new receive gets a new receipt handle; the first-receive time does not change.
    assert not {r["receiptHandle"] for r in again} & {r["receiptHandle"] for r in first}
    for new, old in zip(again, first, strict=True):
        first_receive = "ApproximateFirstReceiveTimestamp"
        assert new["attributes"][first_receive] == old["attributes"][first_receive]


# ---- orders: the second, different table (sql/orders.sql) ----------------------------------

ORDERS_DDL = (Path(__file__).parents[2] / "sql" / "orders.sql").read_text(encoding="utf-8")
_ORDER_COLUMN = re.compile(r'^\s+"(\w+)" ([A-Z]+)(?:\((\d+)(?:,(\d+))?\))?(.*?),?$', re.MULTILINE)
ORDER_COLUMNS = {m[0]: (m[1], m[2], m[3], m[4]) for m in _ORDER_COLUMN.findall(ORDERS_DDL)}
# Filled by the function (the message-id column) or the table (its default), not by the payload.
_NOT_FROM_PAYLOAD = {"sqs_message_id", "ingested_at", "extra"}


def _order_limits_broken(payload: dict[str, Any]) -> set[str]:
    """Which of the orders table's limits a payload breaks, as the reason the function gives."""
    broken = set()
    _, precision, scale, _ = ORDER_COLUMNS["amount"]
    digits = str(payload["amount"]).lstrip("-").split(".")
    decimals = digits[1] if len(digits) > 1 else ""
    if len(decimals) > int(scale) or len(digits[0]) > int(precision) - int(scale):
        broken.add("invalid_decimal")
    assert ORDER_COLUMNS["quantity"][0] == "INTEGER"
    if not -(2**31) <= payload["quantity"] < 2**31:
        broken.add("invalid_number")
    kind, size, _, _ = ORDER_COLUMNS["currency"]
    currency: str = payload["currency"] if "currency" in payload else payload["Currency"]
    if kind == "CHAR" and (len(currency.encode("utf-8")) > int(size) or not currency.isascii()):
        broken.add("value_too_long")
    return broken


def test_the_orders_ddl_is_the_table_the_events_are_for() -> None:
    assert list(ORDER_COLUMNS) == [
        "order_id",
        "customer_id",
        "amount",
        "currency",
        "quantity",
        "discount",
        "paid",
        "order_date",
        "created_at",
        "attributes",
        "sqs_message_id",
        "extra",
        "ingested_at",
    ]
    assert "DEFAULT GETDATE()" in ORDER_COLUMNS["ingested_at"][3]


def test_orders_batch_holds_the_shapes_a_table_driven_function_must_handle() -> None:
    records = _records(ORDERS_FILE)
    expected = json.loads((EVENTS_DIR / ORDERS_EXPECTED_FILE).read_text(encoding="utf-8"))
    assert set(expected) == {ORDERS_FILE}
    reasons: dict[str, str] = expected[ORDERS_FILE]["dead_lettered"]
    assert set(reasons) <= {record["messageId"] for record in records}
    assert sorted(reasons.values()) == ["invalid_decimal", "invalid_number", "value_too_long"]
    payloads = {record["messageId"]: json.loads(record["body"]) for record in records}
    good = [payload for message_id, payload in payloads.items() if message_id not in reasons]
    assert len(good) >= 8
    # Each bad order breaks exactly the limit its reason names; the good ones break none.
    for message_id, reason in reasons.items():
        assert _order_limits_broken(payloads[message_id]) == {reason}
    assert all(not _order_limits_broken(payload) for payload in good)
    columns = set(ORDER_COLUMNS)
    keys = [key for payload in good for key in payload]
    # Keys whose lower-case form names a column (Redshift folds identifiers).
    assert {key for key in keys if key not in columns and key.lower() in columns} == {"Currency"}
    # A nested field a mapping can take (payment.captured -> paid), where `paid` is absent.
    nested = [payload for payload in good if "payment" in payload]
    assert nested
    assert all("paid" not in p and isinstance(p["payment"]["captured"], bool) for p in nested)
    # Fields without a column (they go to `extra`).
    assert {key for key in keys if key.lower() not in columns} == {"payment", "coupon_code"}
    # Every NOT NULL column the payload fills is in every good order.
    required = {
        name
        for name, (_, _, _, rest) in ORDER_COLUMNS.items()
        if "NOT NULL" in rest and "DEFAULT" not in rest and name not in _NOT_FROM_PAYLOAD
    }
    assert required == {"order_id", "customer_id", "amount", "created_at"}
    assert all(required <= set(payload) for payload in good)
    # Amounts arrive as exact text and as JSON numbers.
    assert {type(payload["amount"]) for payload in good} == {str, float}


def test_coupon_batch_carries_codes_for_the_column_added_while_the_function_runs() -> None:
    records = _records(ORDERS_COUPON_FILE)
    expected = json.loads((EVENTS_DIR / ORDERS_COUPON_EXPECTED_FILE).read_text(encoding="utf-8"))
    assert set(expected) == {ORDERS_COUPON_FILE}
    # Its outcomes hold for the orders table with the column that the demo adds.
    assert expected[ORDERS_COUPON_FILE]["after"] == COUPON_COLUMN_DDL
    assert COUPON_COLUMN_DDL.endswith(f"coupon_code VARCHAR({COUPON_COLUMN_BYTES})")
    assert "coupon_code" not in ORDER_COLUMNS
    reasons: dict[str, str] = expected[ORDERS_COUPON_FILE]["dead_lettered"]
    payloads = {record["messageId"]: json.loads(record["body"]) for record in records}
    assert not set(payloads) & {record["messageId"] for record in _records(ORDERS_FILE)}

    def too_long(payload: dict[str, Any]) -> bool:
        return len(payload.get("coupon_code", "").encode("utf-8")) > COUPON_COLUMN_BYTES

    # Exactly one order breaks a limit, the new column's; the others break none of the table's.
    assert list(reasons.values()) == ["value_too_long"]
    assert [message_id for message_id, p in payloads.items() if too_long(p)] == list(reasons)
    good = [payload for message_id, payload in payloads.items() if message_id not in reasons]
    assert all(not _order_limits_broken(payload) for payload in good)
    # Most good orders carry a code for the column; at least one none (the column stays NULL).
    with_code = [payload for payload in good if "coupon_code" in payload]
    assert 1 <= len(good) - len(with_code) < len(with_code)
    assert {key for payload in good for key in payload} - set(ORDER_COLUMNS) == {"coupon_code"}
