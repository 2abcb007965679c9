"""Rows -> parameterised multi-row INSERTs, each within the Data API's size limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.records import Row
from ingest.schema import INSERT_COLUMNS, Column, ColumnKind, quote_identifier


@dataclass(frozen=True)
class InsertStatement:
    """One INSERT: its SQL, its named parameters, and the rows it carries."""

    sql: str
    parameters: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]

    @property
    def size(self) -> int:
        """What we budget against the 100 KB limit: SQL text plus parameter names and values."""
        return len(self.sql) + sum(len(n) + len(v.encode("utf-8")) for n, v in self.parameters)


@dataclass(frozen=True)
class Rendering:
    statements: tuple[InsertStatement, ...]
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


# A parameter is reused only for an equal value in a column of the same kind. How the Data
# API binds a name used twice is undocumented: if it binds the name once with one type (as
# PostgreSQL does with one $n), a name shared by a VARCHAR and a DECIMAL, TIMESTAMP or SUPER
# slot would fail the statement ("inconsistent types deduced") or store the value as the other
# type prints it ("-0" becomes "0"). Within one kind every slot asks for the same type.
# What it costs, in rows per 100,000-byte statement over 10,000 rows (events/sqs-large-batch.json
# repeated; bench/bodies.py's bodies): reuse across kinds 57.8 / 58.1, within a kind 57.8 / 58.1
# (equal values of different kinds are rare), no reuse at all 38.2 / 38.5 (51% more statements).
# A parameter is reused only for an equal value in a column of the same kind. How the Data
# API binds a name used twice is undocumented: if it binds the name once with one type (as
# PostgreSQL does with one $n), a name shared by a VARCHAR and a DECIMAL, TIMESTAMP or SUPER
# slot would fail the statement ("inconsistent types deduced") or store the value as the other
# type prints it ("-0" becomes "0"). Within one kind every slot asks for the same type.
# Rows per 100,000-byte statement over bench/bodies.py's bodies: reuse across kinds 57.3, within
# a kind 57.3 (equal values of different kinds are rare), VARCHAR only 53.1, none 38.5.
_KIND_SLOT = tuple(list(ColumnKind).index(c.kind) for c in INSERT_COLUMNS)
_KINDS = len(ColumnKind)
_IS_TEXT = tuple(c.kind is ColumnKind.VARCHAR for c in INSERT_COLUMNS)


class _Builder:
    """Accumulates rows into one statement, reusing a parameter for a repeated value of the
    same column kind."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        # VARCHAR values, most of every row, map straight to their finished token (":p12");
        # typed values map to a parameter name per kind (their casts differ by column).
        self.text_tokens: dict[str, str] = {}
        by_kind: list[dict[str, str]] = [{} for _ in range(_KINDS)]
        self.typed_names = tuple(by_kind[slot] for slot in _KIND_SLOT)
        self.parameters: list[tuple[str, str]] = []  # (name, value), in name order
        self.fragments: list[str] = []
        self.rows: list[Row] = []
        self.size = len(prefix)

    def try_add(self, row: Row, max_bytes: int, max_parameters: int) -> bool:
        # The hot loop of the function: start from all-NULL and visit only present values.
        text_tokens, typed_names, parameters = self.text_tokens, self.typed_names, self.parameters
        token_of, is_text, before, after = text_tokens.get, _IS_TEXT, _BEFORE, _AFTER  # locals
        first_new = len(parameters)
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
                continue
            if not value:
                tokens[index] = "''"
                continue
            if is_text[index]:
                token = token_of(value)
                if token is not None:
                    tokens[index] = token
                    continue
                name = f"p{len(parameters)}"
                tokens[index] = text_tokens[value] = ":" + name
            else:
                names = typed_names[index]
                known = names.get(value)
                if known is not None:
                    tokens[index] = before[index] + known + after[index]
                    continue
                name = names[value] = f"p{len(parameters)}"
                tokens[index] = before[index] + name + after[index]
            parameters.append((name, value))
            size = len(value) if value.isascii() else len(value.encode("utf-8"))
            added_bytes += len(name) + size
        fragment = "(" + ",".join(tokens) + ")"
        added_bytes += len(fragment) + (1 if self.fragments else 0)
        if self.size + added_bytes > max_bytes or len(parameters) > max_parameters:
            self._forget(first_new)  # the row goes to the next statement
            return False
        self.fragments.append(fragment)
        self.rows.append(row)
        self.size += added_bytes
        return True

    def _forget(self, first_new: int) -> None:
        """Drop the parameters added since `first_new`, from every map that names them."""
        for name, value in self.parameters[first_new:]:
            if self.text_tokens.get(value) == ":" + name:
                del self.text_tokens[value]
                continue
            for names in self.typed_names:
                if names.get(value) == name:
                    del names[value]
                    break
        del self.parameters[first_new:]

    def build(self) -> InsertStatement:
        return InsertStatement(
            self.prefix + ",".join(self.fragments), tuple(self.parameters), tuple(self.rows)
        )


def render_inserts(
    table: str, rows: Sequence[Row], *, max_bytes: int, max_parameters: int
) -> Rendering:
    """Pack rows, in order, into as few INSERTs as the byte and parameter limits allow."""
    prefix = insert_prefix(table)
    statements: list[InsertStatement] = []
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
