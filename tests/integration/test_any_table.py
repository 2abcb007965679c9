"""Any table with configuration only, and tables that change while the function runs: the real
handler against the local Data API on PostgreSQL (both bind modes) and moto's SQS."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ingest.catalog import CATALOG_QUERY
from ingest.schema import TableSchema, column_from_catalog
from local.appsflyer import appsflyer_schema
from tests.emulator.helpers import wait_for
from tests.integration.conftest import ADDRESS, PRIMARY, SECONDARY, Stack, configure
from tests.support import sqs_record

pytestmark = pytest.mark.integration

ORDERS = "public.orders"
# A small table of another stream: every role column by its default name, every type family.
ORDERS_DDL = """
CREATE TABLE public.orders (
    order_id VARCHAR(64) NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    currency CHAR(3),
    quantity {quantity_type},
    discount REAL,
    paid BOOLEAN,
    order_date DATE,
    created_at TIMESTAMPTZ NOT NULL,
    attributes SUPER,
    sqs_message_id VARCHAR(128) NOT NULL,
    extra SUPER,
    ingested_at TIMESTAMP NOT NULL DEFAULT GETDATE()
)
"""


def create_orders(stack: Stack, quantity_type: dict[str, str] | None = None) -> None:
    for target, address in ADDRESS.items():
        kind = (quantity_type or {}).get(target, "INTEGER")
        with stack.data_api.connect(address, "dev") as conn:
            conn.execute(f"DROP TABLE IF EXISTS {ORDERS}")
        stack.data_api.execute_ddl(address, "dev", ORDERS_DDL.format(quantity_type=kind))


PRICE = "<19.90>"  # sent as the JSON number 19.90, which a Python float would print as 19.9


def order(number: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": f"o-{number}",
        "customer": {"id": f"c-{number % 3}", "tier": "gold"},
        "amount": "12.50",
        "Currency": "EUR",  # Redshift folds column names to lower case: so does the mapping
        "quantity": 3,
        "discount": 0.125,
        "paid": True,
        "order_date": "2024-05-01",
        "created_at": "2024-05-01T10:00:00+02:00",
        "attributes": {"gift": True, "price": PRICE},
        "note": "leave at the door",  # no column: kept in extra
    }
    body.update(overrides)
    return body


def orders_event(*bodies: dict[str, Any], start: int = 0) -> dict[str, Any]:
    return {
        "Records": [
            sqs_record(json.dumps(body).replace(f'"{PRICE}"', "19.90"), f"order-msg-{start + i}", 1)
            for i, body in enumerate(bodies)
        ]
    }


def use_orders(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    monkeypatch.setenv("TARGET_TABLE", ORDERS)
    monkeypatch.setenv("FIELD_MAPPING", json.dumps({"customer.id": "customer_id"}))
    monkeypatch.setenv("SORT_KEY_COLUMN", "none")
    configure(monkeypatch, [PRIMARY, SECONDARY], **settings)


def stored(stack: Stack, target: str, columns: str = "*") -> list[dict[str, Any]]:
    with stack.data_api.connect(ADDRESS[target], "dev") as conn:
        cursor = conn.execute(f"SELECT {columns} FROM {ORDERS} ORDER BY sqs_message_id")
        names = [d.name for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_a_new_table_works_with_configuration_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an orders table in both targets and the function told only its name and a mapping
    create_orders(stack)
    use_orders(monkeypatch)
    event = orders_event(
        order(0),
        order(1, amount="7", quantity="12", discount="1e-3"),
        order(2, amount="1.234"),  # more places than DECIMAL(12,2) keeps
        order(3, quantity=3_000_000_000),  # beyond INTEGER
        order(4, Currency="EURO"),  # four bytes for CHAR(3)
        order(5, Currency="éU"),  # three bytes, but CHAR holds single-byte characters only
    )
    # When the handler runs
    assert stack.invoke(event) == []
    # Then the good orders are in both tables, each value exactly as sent
    for target in ADDRESS:
        rows = stored(stack, target)
        assert [r["order_id"] for r in rows] == ["o-0", "o-1"]
        first, second = rows
        assert first["customer_id"] == "c-0"  # from the nested path FIELD_MAPPING names
        assert first["amount"] == Decimal("12.50")
        assert second["amount"] == Decimal("7.00")
        assert first["currency"] == "EUR"
        assert (first["quantity"], second["quantity"]) == (3, 12)
        assert first["discount"] == pytest.approx(0.125)  # REAL: the column's own precision
        assert first["paid"] is True
        assert first["order_date"] == date(2024, 5, 1)
        assert first["created_at"] == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # the same instant
        # SUPER keeps the number literal: read as text, not through psycopg's float decoding
        (attributes,) = [r["attributes"] for r in stored(stack, target, "attributes::text")][:1]
        sent = {"gift": True, "price": Decimal("19.90")}
        assert json.loads(attributes, parse_float=Decimal) == sent
        assert "19.90" in attributes
        assert first["extra"] == {
            "note": "leave at the door",
            "customer": {"id": "c-0", "tier": "gold"},
        }
        assert first["ingested_at"] is not None  # left to its DEFAULT
    # And every bad order is a dead letter with its table's reason, for both targets
    letters = stack.dead_letters()
    reasons = {m: (a["reason"], a["failed_targets"]) for m, a in letters.items()}
    assert reasons == {
        "order-msg-2": ("invalid_decimal", "primary,secondary"),
        "order-msg-3": ("invalid_number", "primary,secondary"),
        "order-msg-4": ("value_too_long", "primary,secondary"),
        "order-msg-5": ("not_single_byte", "primary,secondary"),
    }


def test_targets_whose_tables_differ_get_a_reason_per_target(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a primary whose quantity is a SMALLINT and a secondary whose is an INTEGER
    create_orders(stack, {"primary": "SMALLINT", "secondary": "INTEGER"})
    use_orders(monkeypatch)
    # When an order with a quantity beyond SMALLINT arrives
    assert stack.invoke(orders_event(order(0, quantity=40_000), order(1))) == []
    # Then the secondary holds it, and it is a letter owed to the primary alone
    assert [r["order_id"] for r in stored(stack, "secondary")] == ["o-0", "o-1"]
    assert [r["order_id"] for r in stored(stack, "primary")] == ["o-1"]
    letter = stack.dead_letters()["order-msg-0"]
    assert (letter["reason"], letter["failed_targets"]) == ("invalid_number", "primary")


def test_a_column_added_is_written_once_the_refresh_interval_has_passed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function has read the orders table (refreshed every second)
    create_orders(stack)
    use_orders(monkeypatch, SCHEMA_REFRESH_SECONDS="1")
    assert stack.invoke(orders_event(order(0))) == []
    # When an analyst adds a column, and orders carrying it arrive before and after the interval
    for address in ADDRESS.values():
        stack.data_api.execute_ddl(
            address, "dev", f"ALTER TABLE {ORDERS} ADD COLUMN coupon VARCHAR(16)"
        )
    assert stack.invoke(orders_event(order(1, coupon="SPRING"), start=1)) == []
    time.sleep(1.1)
    assert stack.invoke(orders_event(order(2, coupon="SUMMER"), start=2)) == []
    # Then nothing is lost: the early coupon is kept in extra, the later one in its column
    for target in ADDRESS:
        rows = {r["order_id"]: r for r in stored(stack, target)}
        assert rows["o-1"]["coupon"] is None
        assert rows["o-1"]["extra"]["coupon"] == "SPRING"
        assert rows["o-2"]["coupon"] == "SUMMER"
        assert "coupon" not in rows["o-2"]["extra"]
    assert stack.dead_letters() == {}


def test_a_dropped_column_costs_no_record(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function has read the orders table and writes its currency column
    create_orders(stack)
    use_orders(monkeypatch)
    assert stack.invoke(orders_event(order(0))) == []
    # When the column is dropped and more orders carrying a currency arrive at once
    for address in ADDRESS.values():
        stack.data_api.execute_ddl(address, "dev", f"ALTER TABLE {ORDERS} DROP COLUMN currency")
    failures = stack.invoke(orders_event(order(1), order(2), start=1))
    # Then the INSERT naming the dropped column fails, the table is read again at once, and
    # the orders are written in the same invocation, their currency kept in extra
    assert failures == []
    for target in ADDRESS:
        rows = {r["order_id"]: r for r in stored(stack, target)}
        assert set(rows) == {"o-0", "o-1", "o-2"}
        assert "currency" not in rows["o-1"]
        assert rows["o-1"]["extra"]["Currency"] == "EUR"
    assert stack.dead_letters() == {}


def test_the_example_tables_catalog_reads_as_the_function_expects(stack: Stack) -> None:
    # Given the AppsFlyer table created from sql/create_table.sql
    client = stack.data_api.client()
    # When the function's catalog query runs through the local Data API
    submitted = client.execute_statement(
        Sql=CATALOG_QUERY,
        ClusterIdentifier=ADDRESS["primary"],
        DbUser="ingest",
        Database="dev",
        Parameters=[
            {"name": "schema", "value": "public"},
            {"name": "table", "value": "appsflyer_events"},
        ],
    )
    assert wait_for(client, submitted["Id"], {"FINISHED", "FAILED"})["Status"] == "FINISHED"
    records = client.get_statement_result(Id=submitted["Id"])["Records"]
    # Then every column reads back with its Redshift type, nullability and default
    columns = tuple(
        column_from_catalog(
            name["stringValue"],
            kind["stringValue"],
            not_null=not_null["booleanValue"],
            has_default=has_default["booleanValue"],
        )
        for name, kind, not_null, has_default in records
    )
    assert TableSchema("public.appsflyer_events", columns) == appsflyer_schema()


def test_a_redelivery_after_a_looked_up_column_is_dropped_reads_the_table_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given orders written once (found by the session's attack: the look-up of redelivered
    # records names the identity columns, here order_id and customer_id)
    create_orders(stack)
    use_orders(monkeypatch)
    event = orders_event(order(0), order(1))
    assert stack.invoke(copy.deepcopy(event)) == []
    # When customer_id is dropped and SQS delivers the batch again
    for address in ADDRESS.values():
        stack.data_api.execute_ddl(address, "dev", f"ALTER TABLE {ORDERS} DROP COLUMN customer_id")
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    # Then the failed look-up makes the function read the table again and ask again: nothing
    # comes back, nothing is written twice
    assert stack.invoke(event) == []
    for target in ADDRESS:
        assert sorted(r["order_id"] for r in stored(stack, target)) == ["o-0", "o-1"]
    assert stack.dead_letters() == {}
