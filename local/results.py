"""PostgreSQL result rows -> the Data API's typed Records and ColumnMetadata."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import psycopg

from local.statements import ResultSet

# PostgreSQL type names that Redshift calls something else.
_REDSHIFT_TYPE_NAMES = {"jsonb": "super", "json": "super", "text": "varchar"}
_NUMERIC_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric"}
_TEXT_TYPES = {"varchar", "text", "bpchar", "char", "name"}


def _field(value: object) -> dict[str, Any]:
    # bool before int: bool is an int in Python.
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"blobValue": base64.b64encode(bytes(value)).decode()}
    return {"stringValue": str(value)}


def _column(cursor: psycopg.Cursor[Any], column: psycopg.Column) -> dict[str, Any]:
    info = cursor.adapters.types.get(column.type_code)
    pg_name = info.name if info is not None else "unknown"
    return {
        "name": column.name,
        "label": column.name,
        "typeName": _REDSHIFT_TYPE_NAMES.get(pg_name, pg_name),
        "isCaseSensitive": pg_name in _TEXT_TYPES,
        "isCurrency": False,
        "isSigned": pg_name in _NUMERIC_TYPES,
        "nullable": 2,  # columnNullableUnknown, as JDBC says (PostgreSQL does not tell)
        "precision": column.precision or column.internal_size or 0,
        "scale": column.scale or 0,
        "length": 0,
        "schemaName": "",
        "tableName": "",
    }


def result_set(cursor: psycopg.Cursor[Any], rows: Sequence[Sequence[object]]) -> ResultSet:
    description = cursor.description or []
    records = [[_field(value) for value in row] for row in rows]
    size = sum(len(str(value)) for row in rows for value in row if value is not None)
    return ResultSet([_column(cursor, column) for column in description], records, size)
