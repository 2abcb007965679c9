"""Rows -> parameterised multi-row INSERTs, grouped into transactions, within the Data API's limits.

Each INSERT names only the columns some of its rows carry; a value repeated anywhere in one
transaction travels once, as one parameter. Values are only ever parameters, or constants we
generate (NULL, DEFAULT, TRUE, FALSE, '').
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from functools import cache

from ingest.claim import CLAIM_SQLS, Claim, claim_reserve
from ingest.column_guard import ColumnGuard, column_guard
from ingest.layout import TableLayout
from ingest.limits import (
    COLUMNS_PER_TABLE,
    PARAMETERS,
    REQUEST_BYTES_PER_PARAMETER,
    REQUEST_BYTES_PER_SQL,
    REQUEST_ENVELOPE_BYTES,
)
from ingest.names import parameter_names
from ingest.records import Row
from ingest.schema import ColumnKind, qualified_name, quote_identifier


@dataclass(frozen=True)
class InsertStatement:
    """One INSERT: its SQL, the parameters it uses, and the rows it carries."""

    sql: str
    parameters: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]
    request_bytes: int = 0  # its part of the request: JSON-escaped SQL and parameter entries

    @property
    def size(self) -> int:
        """What we budget against the 100 KB limit: SQL text plus parameter names and values."""
        sql = len(self.sql.encode("utf-8"))
        return sql + sum(len(n) + len(v.encode("utf-8")) for n, v in self.parameters)


class Part(Enum):
    """What one SQL of a transaction is (the service names a failed one by its index)."""

    LOCK = "lock"
    GUARD = "guard"
    CHECK = "check"
    INSERT = "insert"


@dataclass(frozen=True)
class Transaction:
    """INSERTs committed together (one BatchExecuteStatement), sharing one parameter list.

    With a claim, the table is locked first (claim.py); with a guard, its check of the table's
    column types runs next, so that a column re-created with another type fails the
    transaction instead of having the database convert a value (column_guard.py); then the
    claim's check that none of its records is already there; then the INSERTs."""

    statements: tuple[InsertStatement, ...]
    guard: ColumnGuard | None = None
    claim: Claim | None = None

    @property
    def parts(self) -> tuple[Part, ...]:
        lock = (Part.LOCK,) if self.claim is not None and self.claim.lock_sql is not None else ()
        guard = (Part.GUARD,) if self.guard is not None else ()
        check = (Part.CHECK,) if self.claim is not None else ()
        return (*lock, *guard, *check, *(Part.INSERT for _ in self.statements))

    @property
    def sqls(self) -> tuple[str, ...]:
        claim = self.claim
        lock = (claim.lock_sql,) if claim is not None and claim.lock_sql is not None else ()
        guard = (self.guard.sql,) if self.guard is not None else ()
        check = (claim.check_sql,) if claim is not None else ()
        return (*lock, *guard, *check, *(s.sql for s in self.statements))

    @property
    def parameters(self) -> tuple[tuple[str, str], ...]:
        merged: dict[str, str] = dict(self.guard.parameters) if self.guard else {}
        if self.claim is not None:
            merged.update(self.claim.parameters)
        for statement in self.statements:
            merged.update(statement.parameters)
        return tuple(merged.items())

    def part_at(self, sql_index: int | None) -> Part | None:
        """What the 0-based SQL index names; None when the service named none, or too far."""
        parts = self.parts
        return parts[sql_index] if sql_index is not None and 0 <= sql_index < len(parts) else None

    def insert_index(self, sql_index: int) -> int | None:
        """The INSERT a 0-based SQL index names; None for any other SQL or out of range."""
        index = sql_index - (len(self.parts) - len(self.statements))
        return index if 0 <= index < len(self.statements) else None

    def with_statements(self, statements: tuple[InsertStatement, ...]) -> Transaction:
        """The same guard, and no claim: a claim names its statements' records (writer.py
        claims each transaction it sends anew)."""
        return Transaction(statements, self.guard)

    def with_guard(self, guard: ColumnGuard | None) -> Transaction:
        return Transaction(self.statements, guard, self.claim)

    def with_claim(self, claim: Claim | None) -> Transaction:
        return Transaction(self.statements, self.guard, claim)

    @property
    def request_bytes(self) -> int:
        """What the whole request carries, as the request budget counts it (see Limits)."""
        guard = self.guard.request_bytes if self.guard else 0
        claim = self.claim.request_bytes if self.claim else 0
        return guard + claim + sum(s.request_bytes for s in self.statements)

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(row for s in self.statements for row in s.rows)


@dataclass(frozen=True)
class Rendering:
    transactions: tuple[Transaction, ...]
    oversized: tuple[Row, ...]  # rows that alone exceed a statement's budget

    @property
    def statements(self) -> tuple[InsertStatement, ...]:
        return tuple(s for t in self.transactions for s in t.statements)


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # per INSERT: its SQL text plus its parameters' names and values
    max_parameters: int  # per transaction: its one shared parameter list
    statements_per_transaction: int = 1  # INSERTs per transaction (a guard comes on top)
    # Per request (one ExecuteStatement or BatchExecuteStatement): its SQL and its parameter
    # entries as JSON. None: unbounded (tests of the per-INSERT limits alone).
    max_request_bytes: int | None = None
    # Every transaction opens with the table's column guard (column_guard.py).
    guarded: bool = False
    # Transactions of records a target may hold open with a claim (claim.py): they need a
    # BatchExecuteStatement with parameters, as the guard does.
    claims: bool = False


def value_wrapper(kind: ColumnKind, redshift_type: str) -> tuple[str, str]:
    """What goes before and after a parameter's name in a column's slot."""
    # Text parameters need no cast. Typed columns keep an explicit CAST: how the Data API
    # types a parameter is undocumented, and a multi-row VALUES list is typed by its rows
    # before the target column is consulted, so a bare parameter could be read as text. The
    # `::type` shorthand is avoided because the Data API could read `:type` as a parameter.
    if kind in (ColumnKind.VARCHAR, ColumnKind.CHAR):
        return ":", ""
    if kind is ColumnKind.SUPER:
        return "JSON_PARSE(:", ")"  # parsed, not stored as one JSON string
    return "CAST(:", f" AS {redshift_type})"


@cache
def _names() -> tuple[str, ...]:
    """Every name a transaction can need, built once on first use rather than at import (a cold
    start pays for it only when it renders): the hot loop indexes, never formats. A row may
    overshoot the PARAMETERS limit before it is found not to fit: a Redshift table has at most
    COLUMNS_PER_TABLE columns, so as many spare names cover any row."""
    return parameter_names(PARAMETERS + COLUMNS_PER_TABLE)


# JSON escapes a request's strings: quotes, backslashes and control characters in ASCII, and
# every non-ASCII character as \uXXXX (botocore's serializer keeps json's ensure_ascii).
_ESCAPED = re.compile(r'["\\\x00-\x1f\x7f]')


def _json_excess(value: str, size: int, *, ascii_only: bool) -> int:
    """What JSON adds to a value beyond its `size` UTF-8 bytes, at most: a 6-byte escape per
    control character, quote or backslash, and one per UTF-16 unit of non-ASCII text
    (at most 3x its UTF-8 bytes)."""
    excess = 5 * len(_ESCAPED.findall(value))
    return excess if ascii_only else excess + 2 * size


_VALUES = ") VALUES "
_UNBOUNDED = 1 << 62


@dataclass(frozen=True)
class _Shape:
    """A layout's per-column rendering constants, computed once per layout."""

    prefix: str  # "INSERT INTO t ("
    quoted: tuple[str, ...]
    before: tuple[str, ...]
    after: tuple[str, ...]
    filler: tuple[str, ...]  # what an absent value is: DEFAULT where the table has one
    is_text: tuple[bool, ...]
    reuse_slot: tuple[int, ...]  # typed columns sharing a slot may share a parameter
    slots: int

    @staticmethod
    def of(layout: TableLayout) -> _Shape:
        wrappers = [value_wrapper(c.kind, c.redshift_type) for c in layout.columns]
        # A parameter is reused only among columns asking for the same type: how the Data API
        # binds a name used twice is undocumented, and if it binds once with one type (as
        # PostgreSQL does with one $n), a name shared by a VARCHAR and a DECIMAL slot would
        # fail the statement or store the value as the other type prints it ("-0" -> "0").
        slots: dict[tuple[ColumnKind, str, str], int] = {}
        reuse = tuple(
            slots.setdefault((c.kind, *w), len(slots))
            for c, w in zip(layout.columns, wrappers, strict=True)
        )
        return _Shape(
            prefix=f"INSERT INTO {qualified_name(layout.table)} (",
            quoted=tuple(quote_identifier(c.name) for c in layout.columns),
            before=tuple(w[0] for w in wrappers),
            after=tuple(w[1] for w in wrappers),
            filler=tuple("DEFAULT" if d else "NULL" for d in layout.has_default),
            is_text=tuple(c.kind is ColumnKind.VARCHAR for c in layout.columns),
            reuse_slot=reuse,
            slots=len(slots),
        )


@dataclass(frozen=True)
class _Columns:
    """The columns one render names: those some of its rows carry, in table order."""

    shape: _Shape
    prefix: str  # INSERT INTO t (<the columns>) VALUES
    filler: tuple[str, ...]  # per column of the table: the slot's text when the row has no value

    @staticmethod
    def carried_by(shape: _Shape, rows: Sequence[Row]) -> _Columns:
        # A row without the `present` hint may carry any column.
        every = range(len(shape.quoted))
        carried = set().union(*(row.present or every for row in rows))
        return _Columns(
            shape,
            shape.prefix + ",".join(shape.quoted[c] for c in sorted(carried)) + _VALUES,
            # A column no row carries is left out of the row's text altogether.
            tuple(f if i in carried else "" for i, f in enumerate(shape.filler)),
        )


class _Statement:
    """Accumulates rows into one INSERT, reusing a parameter for a repeated value of the
    same column type. Parameter names continue from `first_name`, so that the INSERTs of one
    transaction never clash in its one shared parameter list."""

    def __init__(self, columns: _Columns, first_name: int) -> None:
        self.columns = columns
        self.first_name = first_name
        shape = columns.shape
        # VARCHAR values, most of every row, map straight to their finished token (":a12");
        # typed values map to a parameter name per slot (their casts differ by column).
        self.text_tokens: dict[str, str] = {}
        by_slot: list[dict[str, str]] = [{} for _ in range(shape.slots)]
        self.typed_names = tuple(by_slot[slot] for slot in shape.reuse_slot)
        self.parameters: list[tuple[str, str]] = []  # (name, value), in name order
        self.fragments: list[str] = []
        self.rows: list[Row] = []
        self.size = len(columns.prefix.encode("utf-8"))  # column names may be non-ASCII
        # Column names may need JSON escapes too (x6 at most); the SQL is otherwise ASCII.
        self.request_bytes = 6 * self.size + REQUEST_BYTES_PER_SQL

    def try_add(self, row: Row, max_bytes: int, parameters_left: int, request_left: int) -> bool:
        # The hot loop of the function: start from the fillers and visit only present values.
        shape = self.columns.shape
        text_tokens, typed_names, parameters = self.text_tokens, self.typed_names, self.parameters
        token_of, is_text, before, after = text_tokens.get, shape.is_text, shape.before, shape.after
        names, first_name = _names(), self.first_name
        first_new = len(parameters)
        added_bytes = 0
        escapes = 0  # what JSON adds to the request beyond the values' UTF-8 bytes
        tokens = list(self.columns.filler)
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
                name = names[first_name + len(parameters)]
                tokens[index] = text_tokens[value] = ":" + name
            else:
                known = typed_names[index].get(value)
                if known is not None:
                    tokens[index] = before[index] + known + after[index]
                    continue
                name = typed_names[index][value] = names[first_name + len(parameters)]
                tokens[index] = before[index] + name + after[index]
            parameters.append((name, value))
            ascii_only = value.isascii()
            size = len(value) if ascii_only else len(value.encode("utf-8"))
            if not ascii_only or _ESCAPED.search(value) is not None:
                escapes += _json_excess(value, size, ascii_only=ascii_only)
            added_bytes += len(name) + size
        # Columns no row of this render carries have "" and are skipped by the filter.
        fragment = "(" + ",".join(filter(None, tokens)) + ")"
        added_bytes += len(fragment) + (1 if self.fragments else 0)
        added_request = (
            added_bytes + escapes + (len(parameters) - first_new) * REQUEST_BYTES_PER_PARAMETER
        )
        if (
            self.size + added_bytes > max_bytes
            or len(parameters) > parameters_left
            or self.request_bytes + added_request > request_left
        ):
            self._forget(first_new)  # the row goes to the next statement
            return False
        self.fragments.append(fragment)
        self.rows.append(row)
        self.size += added_bytes
        self.request_bytes += added_request
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
        sql = self.columns.prefix + ",".join(self.fragments)
        return InsertStatement(sql, tuple(self.parameters), tuple(self.rows), self.request_bytes)


class _TransactionBuilder:
    def __init__(self, columns: _Columns, limits: Limits, guard: ColumnGuard | None) -> None:
        self.columns = columns
        self.limits = limits
        self.guard = guard
        self.done: list[_Statement] = []
        # What the finished statements (and the guard) use of the transaction's budgets.
        self.used = len(guard.parameters) if guard else 0
        self.request_used = REQUEST_ENVELOPE_BYTES + (guard.request_bytes if guard else 0)
        self.request_max = limits.max_request_bytes or _UNBOUNDED
        self.current = _Statement(columns, 0)

    def try_add(self, row: Row) -> bool:
        limits = self.limits
        if self.current.try_add(
            row,
            limits.max_bytes,
            limits.max_parameters - self.used,
            self.request_max - self.request_used,
        ):
            return True
        if not self.current.rows or len(self.done) + 1 >= limits.statements_per_transaction:
            return False
        used = self.used + len(self.current.parameters)
        request_used = self.request_used + self.current.request_bytes
        fresh = _Statement(self.columns, used - self._guard_parameters)
        if not fresh.try_add(
            row, limits.max_bytes, limits.max_parameters - used, self.request_max - request_used
        ):
            return False
        self.done.append(self.current)
        self.used, self.request_used = used, request_used
        self.current = fresh
        return True

    @property
    def _guard_parameters(self) -> int:
        return len(self.guard.parameters) if self.guard else 0

    @property
    def empty(self) -> bool:
        return not self.current.rows

    def build(self) -> Transaction:
        parts = [*self.done, self.current] if self.current.rows else self.done
        return Transaction(tuple(part.build() for part in parts), self.guard)


class InsertRenderer:
    """Renders rows for one table layout; its per-column constants are computed once."""

    def __init__(self, layout: TableLayout, limits: Limits) -> None:
        self.layout = layout
        self.limits = limits
        self._shape = _Shape.of(layout)
        self.guard = column_guard(layout) if limits.guarded else None

    def render(
        self,
        rows: Sequence[Row],
        *,
        max_request_bytes: int | None = None,
        claimed: bool = False,
    ) -> Rendering:
        """Pack rows, in order, into as few INSERTs and transactions as the limits allow;
        `max_request_bytes` lowers the request budget (after the service refused a size);
        `claimed` leaves room in each transaction for a claim (claim.py) of its rows."""
        limits = self.limits
        if max_request_bytes is not None and (
            limits.max_request_bytes is None or max_request_bytes < limits.max_request_bytes
        ):
            limits = replace(limits, max_request_bytes=max_request_bytes)
        if claimed:
            request = limits.max_request_bytes
            reserve = claim_reserve(len(rows))
            limits = replace(
                limits,
                # The LOCK and the check are two of the request's SQLs; the window two
                # parameters; the check's SQL about 6 bytes per record.
                statements_per_transaction=max(1, limits.statements_per_transaction - CLAIM_SQLS),
                max_parameters=limits.max_parameters - 2,
                max_request_bytes=(
                    None if request is None else max(request // 2, request - reserve)
                ),
            )
        columns = _Columns.carried_by(self._shape, rows)
        transactions: list[Transaction] = []
        oversized: list[Row] = []
        builder = _TransactionBuilder(columns, limits, self.guard)
        for row in rows:
            if builder.try_add(row):
                continue
            fresh = _TransactionBuilder(columns, limits, self.guard)
            if not fresh.try_add(row):
                oversized.append(row)  # too big even alone: the open transaction stays open
                continue
            if not builder.empty:
                transactions.append(builder.build())
            builder = fresh
        if not builder.empty:
            transactions.append(builder.build())
        return Rendering(tuple(transactions), tuple(oversized))
