"""A table other than AppsFlyer, for the tests of "any table": a small orders table with a
column of every type the function writes, as a target's catalog would describe it."""

from __future__ import annotations

import json
from typing import Any

from ingest.config import Roles
from ingest.layout import TableLayout, build_layout
from ingest.records import Rejection, Row, SqsMessage, decode
from ingest.row_reader import RowReader
from ingest.schema import Column, ColumnKind, TableSchema

ORDERS_TABLE = "shop.orders"


def _column(name: str, type_text: str, kind: ColumnKind, **facts: Any) -> Column:
    return Column(name, kind, type_text=type_text, **facts)


ORDERS = TableSchema(
    ORDERS_TABLE,
    (
        _column("order_id", "character varying(64)", ColumnKind.VARCHAR, size=64, not_null=True),
        _column(
            "status",
            "character varying(16)",
            ColumnKind.VARCHAR,
            size=16,
            not_null=True,
            has_default=True,
        ),
        _column("note", "character varying(200)", ColumnKind.VARCHAR, size=200),
        _column("country", "character(2)", ColumnKind.CHAR, size=2),
        _column("quantity", "smallint", ColumnKind.SMALLINT),
        _column("line_count", "integer", ColumnKind.INTEGER, has_default=True),
        _column("customer_number", "bigint", ColumnKind.BIGINT),
        _column("total", "numeric(12,2)", ColumnKind.DECIMAL, precision=12, scale=2),
        _column("weight", "real", ColumnKind.REAL),
        _column("score", "double precision", ColumnKind.DOUBLE),
        _column("gift", "boolean", ColumnKind.BOOLEAN),
        _column("ordered_on", "date", ColumnKind.DATE),
        _column("paid_at", "timestamp with time zone", ColumnKind.TIMESTAMPTZ),
        _column("shipped_at", "timestamp without time zone", ColumnKind.TIMESTAMP),
        _column("attributes", "super", ColumnKind.SUPER),
        _column(
            "message_id", "character varying(128)", ColumnKind.VARCHAR, size=128, not_null=True
        ),
    ),
)

# The roles of a table with no overflow column, no DEFAULT_COLUMNS, no local times, no sort key.
ORDER_ROLES = Roles(
    message_id_column="message_id",
    overflow_column=None,
    default_columns=(),
    local_time_patterns=(),
    sort_key_column=None,
)


def orders_layout(roles: Roles = ORDER_ROLES, schema: TableSchema = ORDERS) -> TableLayout:
    return build_layout(schema, roles, "primary")


def read(
    fields: dict[str, Any] | str, message_id: str = "m-1", layout: TableLayout | None = None
) -> Row | Rejection:
    """What the function makes of one message for a layout (the orders table by default)."""
    body = fields if isinstance(fields, str) else json.dumps(fields)
    decoded = decode(SqsMessage(message_id, body, 1))
    if isinstance(decoded, Rejection):
        return decoded
    return RowReader(layout or orders_layout()).read(decoded)


def order_row(
    fields: dict[str, Any] | str, message_id: str = "m-1", layout: TableLayout | None = None
) -> Row:
    outcome = read(fields, message_id, layout)
    assert isinstance(outcome, Row), outcome
    return outcome
