"""A target table's columns as its catalog describes them: names, Redshift types, nullability.

Nothing here knows a particular table: the function reads each target's columns at cold start
(see catalog.py), and validation and rendering derive from what it finds (see layout.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class ColumnKind(Enum):
    VARCHAR = "VARCHAR"
    CHAR = "CHAR"
    SMALLINT = "SMALLINT"
    INTEGER = "INTEGER"
    BIGINT = "BIGINT"
    DECIMAL = "DECIMAL"
    REAL = "REAL"
    DOUBLE = "DOUBLE PRECISION"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    TIMESTAMP = "TIMESTAMP"
    TIMESTAMPTZ = "TIMESTAMPTZ"
    SUPER = "SUPER"
    UNSUPPORTED = "UNSUPPORTED"  # a type the function cannot write (VARBYTE, GEOMETRY, TIME...)


TEXT_KINDS = frozenset({ColumnKind.VARCHAR, ColumnKind.CHAR})


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    size: int = 0  # VARCHAR/CHAR: maximum bytes (Redshift counts bytes, not characters)
    precision: int = 0  # DECIMAL
    scale: int = 0  # DECIMAL
    not_null: bool = False
    has_default: bool = False
    type_text: str = ""  # as the catalog printed it; names an unsupported type in messages

    @property
    def required(self) -> bool:
        """NOT NULL without a default: a row must carry a value."""
        return self.not_null and not self.has_default

    @property
    def redshift_type(self) -> str:
        if self.kind in TEXT_KINDS:
            return f"{self.kind.value}({self.size})"
        if self.kind is ColumnKind.DECIMAL:
            return f"DECIMAL({self.precision},{self.scale})"
        if self.kind is ColumnKind.UNSUPPORTED:
            return self.type_text.upper()
        return str(self.kind.value)


@dataclass(frozen=True)
class TableSchema:
    """One table in one target, as read from its catalog; columns in table order."""

    table: str  # schema-qualified, as configured
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


# format_type()'s spelling of every type the function writes, in Redshift and in PostgreSQL
# (Redshift descends from PostgreSQL 8.0 and prints its types the same way).
_FIXED = {
    "smallint": ColumnKind.SMALLINT,
    "integer": ColumnKind.INTEGER,
    "bigint": ColumnKind.BIGINT,
    "real": ColumnKind.REAL,
    "double precision": ColumnKind.DOUBLE,
    "boolean": ColumnKind.BOOLEAN,
    "date": ColumnKind.DATE,
    "timestamp without time zone": ColumnKind.TIMESTAMP,
    "timestamp with time zone": ColumnKind.TIMESTAMPTZ,
    "super": ColumnKind.SUPER,
}
_SIZED = re.compile(r"(character varying|character|numeric)\((\d+)(?:,(\d+))?\)")
# Redshift prints VARCHAR(MAX) as its size; a VARCHAR without one is VARCHAR(256).
_UNSIZED_TEXT = {"character varying": 256, "character": 1}


def column_from_catalog(name: str, type_text: str, *, not_null: bool, has_default: bool) -> Column:
    """A column from one row of the catalog query (catalog.py); unknown types are UNSUPPORTED."""

    def column(kind: ColumnKind, size: int = 0, precision: int = 0, scale: int = 0) -> Column:
        return Column(name, kind, size, precision, scale, not_null, has_default, type_text)

    text = type_text.strip().lower()
    fixed = _FIXED.get(text)
    if fixed is not None:
        return column(fixed)
    if text in _UNSIZED_TEXT:
        kind = ColumnKind.VARCHAR if text == "character varying" else ColumnKind.CHAR
        return column(kind, size=_UNSIZED_TEXT[text])
    sized = _SIZED.fullmatch(text)
    if sized is None:
        return column(ColumnKind.UNSUPPORTED)
    base, first, second = sized.group(1), int(sized.group(2)), sized.group(3)
    if base == "numeric":
        return column(ColumnKind.DECIMAL, precision=first, scale=int(second or 0))
    return column(ColumnKind.VARCHAR if base == "character varying" else ColumnKind.CHAR, first)


def quote_identifier(name: str) -> str:
    """A double-quoted identifier. Table names are validated by config; column names come from
    the target's own catalog, and any `"` in one is doubled as SQL requires."""
    return '"' + name.replace('"', '""') + '"'


def qualified_name(table: str) -> str:
    return ".".join(quote_identifier(part) for part in table.split("."))
