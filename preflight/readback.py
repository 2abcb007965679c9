"""Reading a check's rows back through the function's own SELECT path, and comparing them with
what was sent, column by column, exactly: integers and decimals digit for digit, REAL and
DOUBLE PRECISION as their column type rounds, times as the same instant, SUPER as the same
JSON (numbers compared as decimals, never as floats).

Only column names ever leave this module: a difference is reported by column, never by value.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ingest import exact_json
from ingest.exact_json import JsonNumber
from ingest.layout import TableLayout
from ingest.records import Row, SqlValue
from ingest.schema import Column, ColumnKind, qualified_name, quote_identifier

Fetched = list[str | None]


def select_sql(layout: TableLayout, extra_columns: Sequence[str] = ()) -> str:
    """Every written column (and `extra_columns`) of the rows whose message id is LIKE :m."""
    names = [quote_identifier(c.name) for c in layout.columns]
    names += [quote_identifier(name) for name in extra_columns]
    message_id = quote_identifier(layout.columns[layout.message_id_index].name)
    # Identifiers come from the catalog (quoted) and from table.py: the pattern is a parameter.
    return (
        f"SELECT {', '.join(names)} FROM {qualified_name(layout.table)} "  # noqa: S608
        f"WHERE {message_id} LIKE :m"
    )


def by_message_id(layout: TableLayout, rows: list[Fetched]) -> dict[str, Fetched]:
    index = layout.message_id_index
    return {str(row[index]): row for row in rows}


def count_sql(layout: TableLayout) -> str:
    message_id = quote_identifier(layout.columns[layout.message_id_index].name)
    return (
        f"SELECT COUNT(*) FROM {qualified_name(layout.table)} "  # noqa: S608
        f"WHERE {message_id} LIKE :m"
    )


def differences(layout: TableLayout, sent: Sequence[Row], got: dict[str, Fetched]) -> list[str]:
    """What differs between the rows sent and those read back: missing or unexpected rows, and
    the names of the columns whose values differ. Empty: every value came back as sent."""
    problems: list[str] = []
    missing = [row for row in sent if row.record_id not in got]
    if missing:
        problems.append(f"{len(missing)} of {len(sent)} rows missing")
    if len(got) > len(sent):
        problems.append(f"{len(got) - len(sent)} rows more than sent")
    columns: set[str] = set()
    for row in sent:
        fetched = got.get(row.record_id)
        if fetched is None:
            continue
        for index in row.present:
            column = layout.columns[index]
            if not same(column, row.values[index], fetched[index]):
                columns.add(column.name)
    if columns:
        problems.append("values differ in " + ", ".join(sorted(columns)))
    return problems


def same(column: Column, sent: SqlValue, got: str | None) -> bool:
    """Whether `got`, as the Data API returned it, is the value `sent` in `column`'s type."""
    if sent is None or got is None:
        return sent is None and got is None
    try:
        return _same(column.kind, sent, got)
    except (ValueError, InvalidOperation, struct.error, OverflowError):
        return False


def _same(kind: ColumnKind, sent: str | bool, got: str) -> bool:  # noqa: PLR0911 - one per kind
    if isinstance(sent, bool):
        truth = got.strip().lower() in ("true", "t", "1")
        return kind is ColumnKind.BOOLEAN and truth == sent
    if kind is ColumnKind.VARCHAR:
        return got == sent
    if kind is ColumnKind.CHAR:
        return got.rstrip(" ") == sent.rstrip(" ")  # CHAR reads back blank-padded
    if kind in (ColumnKind.SMALLINT, ColumnKind.INTEGER, ColumnKind.BIGINT):
        return int(got) == int(sent)
    if kind is ColumnKind.DECIMAL:
        return Decimal(got) == Decimal(sent)
    if kind is ColumnKind.REAL:
        return _float32(got) == _float32(sent)
    if kind is ColumnKind.DOUBLE:
        return float(got) == float(sent)
    if kind is ColumnKind.DATE:
        return date.fromisoformat(got) == date.fromisoformat(sent)
    if kind in (ColumnKind.TIMESTAMP, ColumnKind.TIMESTAMPTZ):
        # TIMESTAMPTZ: the same instant, whatever offset the service prints it in.
        return datetime.fromisoformat(got) == datetime.fromisoformat(sent)
    if kind is ColumnKind.SUPER:
        equal: bool = _json(exact_json.loads(got)) == _json(exact_json.loads(sent))
        return equal
    return False


def _float32(text: str) -> float:
    value: float = struct.unpack("f", struct.pack("f", float(text)))[0]
    return value


def _json(value: Any) -> Any:
    """A decoded JSON value with its numbers as decimals: 19.90 equals 19.9, never 19.900001."""
    if type(value) is JsonNumber:
        return Decimal(value)
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value
