"""Rows -> parameterised multi-row INSERTs, each within the Data API's size limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.records import Row
from ingest.schema import INSERT_COLUMNS, Column, ColumnKind, quote_identifier


@dataclass(frozen=True)
class Statement:
    """One INSERT: its SQL, its named parameters, and the rows it carries."""

    sql: str
    parameters: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]

    @property
    def size(self) -> int:
        """What we budget against the 100 KB limit: SQL text plus parameter names and values."""
        return len(self.sql) + sum(len(n) + len(v.encode("utf-8")) for n, v in self.parameters)

    def data_api_parameters(self) -> list[dict[str, str]]:
        return [{"name": name, "value": value} for name, value in self.parameters]


@dataclass(frozen=True)
class Rendering:
    statements: tuple[Statement, ...]
    oversized: tuple[Row, ...]  # rows that alone exceed a statement's budget


def _placeholder_affixes(column: Column) -> tuple[str, str]:
    """What goes before and after a parameter's name in this column's slot."""
    # Parameters arrive as text; explicit casts keep multi-row VALUES unambiguous. The
    # `::type` shorthand is avoided because the Data API could read `:type` as a parameter.
    if column.kind is ColumnKind.TIMESTAMP:
        return "CAST(:", " AS TIMESTAMP)"
    if column.kind is ColumnKind.DECIMAL:
        return "CAST(:", f" AS {column.redshift_type})"
    if column.kind is ColumnKind.SUPER:
        return "JSON_PARSE(:", ")"
    return ":", ""


_BEFORE = tuple(_placeholder_affixes(c)[0] for c in INSERT_COLUMNS)
_AFTER = tuple(_placeholder_affixes(c)[1] for c in INSERT_COLUMNS)
_ALL_NULL = ("NULL",) * len(INSERT_COLUMNS)
_COLUMN_LIST = ",".join(quote_identifier(c.name) for c in INSERT_COLUMNS)


def insert_prefix(table: str) -> str:
    qualified = ".".join(quote_identifier(part) for part in table.split("."))
    # Identifiers only: validated by config, quoted by us. Values never enter the SQL text.
    return f"INSERT INTO {qualified} ({_COLUMN_LIST}) VALUES "  # noqa: S608


class _Builder:
    """Accumulates rows into one statement, reusing a parameter for repeated values."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: dict[str, str] = {}
        self.fragments: list[str] = []
        self.rows: list[Row] = []
        self.size = len(prefix)

    def try_add(self, row: Row, max_bytes: int, max_parameters: int) -> bool:
        # The hot loop of the function: start from all-NULL and visit only present values.
        names = self.names
        name_of, before, after = names.get, _BEFORE, _AFTER  # locals: this loop is hot
        added: list[str] = []
        added_bytes = 0
        tokens = list(_ALL_NULL)
        values = row.values
        for index in row.present or range(len(values)):
            value = values[index]
            # The Data API cannot carry NULL or empty parameters: these become SQL constants.
            if value is None:
                continue
            if type(value) is bool:
                tokens[index] = "TRUE" if value else "FALSE"
            elif not value:
                tokens[index] = "''"
            else:
                name = name_of(value)
                if name is None:
                    name = f"p{len(names)}"
                    names[value] = name
                    added.append(value)
                    size = len(value) if value.isascii() else len(value.encode("utf-8"))
                    added_bytes += len(name) + size
                tokens[index] = before[index] + name + after[index]
        fragment = "(" + ",".join(tokens) + ")"
        added_bytes += len(fragment) + (1 if self.fragments else 0)
        if self.size + added_bytes > max_bytes or len(names) > max_parameters:
            for value in added:  # the row goes to the next statement: forget its parameters
                del names[value]
            return False
        self.fragments.append(fragment)
        self.rows.append(row)
        self.size += added_bytes
        return True

    def build(self) -> Statement:
        parameters = tuple((name, value) for value, name in self.names.items())
        return Statement(self.prefix + ",".join(self.fragments), parameters, tuple(self.rows))


def render_inserts(
    table: str, rows: Sequence[Row], *, max_bytes: int, max_parameters: int
) -> Rendering:
    """Pack rows, in order, into as few INSERTs as the byte and parameter limits allow."""
    prefix = insert_prefix(table)
    statements: list[Statement] = []
    oversized: list[Row] = []
    builder = _Builder(prefix)
    for row in rows:
        if builder.try_add(row, max_bytes, max_parameters):
            continue
        fresh = _Builder(prefix)
        if not fresh.try_add(row, max_bytes, max_parameters):
            oversized.append(row)  # too big even alone: the statement being built stays open
            continue
        if builder.rows:
            statements.append(builder.build())
        builder = fresh
    if builder.rows:
        statements.append(builder.build())
    return Rendering(tuple(statements), tuple(oversized))
