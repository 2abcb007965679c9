"""Rows -> parameterised multi-row INSERTs, grouped into transactions, within the Data API's limits.

Each INSERT names only the columns some of its rows carry; a value repeated anywhere in one
transaction travels once, as one parameter. Values are only ever parameters, or constants we
generate (NULL, DEFAULT, TRUE, FALSE, '').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.layout import TableLayout
from ingest.records import Row
from ingest.schema import ColumnKind, qualified_name, quote_identifier


@dataclass(frozen=True)
class InsertStatement:
    """One INSERT: its SQL, the parameters it uses, and the rows it carries."""

    sql: str
    parameters: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]

    @property
    def size(self) -> int:
        """What we budget against the 100 KB limit: SQL text plus parameter names and values."""
        sql = len(self.sql.encode("utf-8"))
        return sql + sum(len(n) + len(v.encode("utf-8")) for n, v in self.parameters)


@dataclass(frozen=True)
class Transaction:
    """INSERTs committed together (one BatchExecuteStatement), sharing one parameter list."""

    statements: tuple[InsertStatement, ...]

    @property
    def sqls(self) -> tuple[str, ...]:
        return tuple(s.sql for s in self.statements)

    @property
    def parameters(self) -> tuple[tuple[str, str], ...]:
        merged: dict[str, str] = {}
        for statement in self.statements:
            merged.update(statement.parameters)
        return tuple(merged.items())

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
    statements_per_transaction: int = 1


def _wrapper(kind: ColumnKind, redshift_type: str) -> tuple[str, str]:
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


def parameter_name(number: int) -> str:
    """Short, distinct names: a..z, then a letter and a number (a0, b0, ..., z1259): never a
    keyword, and no name is a prefix of another that could be misread."""
    letter = chr(ord("a") + number % 26)
    return letter if number < 26 else f"{letter}{number // 26 - 1}"


# Every name a transaction can need, built once: the hot loop indexes, never formats. A row
# may overshoot the 32,767 limit before it is found not to fit: Redshift tables have at most
# 1,600 columns, so 1,600 spare names cover any row.
_NAMES = tuple(parameter_name(n) for n in range(32_767 + 1_600))
_VALUES = ") VALUES "


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
        wrappers = [_wrapper(c.kind, c.redshift_type) for c in layout.columns]
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

    def try_add(self, row: Row, max_bytes: int, parameters_left: int) -> bool:
        # The hot loop of the function: start from the fillers and visit only present values.
        shape = self.columns.shape
        text_tokens, typed_names, parameters = self.text_tokens, self.typed_names, self.parameters
        token_of, is_text, before, after = text_tokens.get, shape.is_text, shape.before, shape.after
        names, first_name = _NAMES, self.first_name
        first_new = len(parameters)
        added_bytes = 0
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
            size = len(value) if value.isascii() else len(value.encode("utf-8"))
            added_bytes += len(name) + size
        # Columns no row of this render carries have "" and are skipped by the filter.
        fragment = "(" + ",".join(filter(None, tokens)) + ")"
        added_bytes += len(fragment) + (1 if self.fragments else 0)
        if self.size + added_bytes > max_bytes or len(parameters) > parameters_left:
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
        sql = self.columns.prefix + ",".join(self.fragments)
        return InsertStatement(sql, tuple(self.parameters), tuple(self.rows))


class _TransactionBuilder:
    def __init__(self, columns: _Columns, limits: Limits) -> None:
        self.columns = columns
        self.limits = limits
        self.done: list[_Statement] = []
        self.used = 0  # parameters of the finished statements
        self.current = _Statement(columns, 0)

    def try_add(self, row: Row) -> bool:
        limits = self.limits
        if self.current.try_add(row, limits.max_bytes, limits.max_parameters - self.used):
            return True
        if not self.current.rows or len(self.done) + 1 >= limits.statements_per_transaction:
            return False
        used = self.used + len(self.current.parameters)
        fresh = _Statement(self.columns, used)
        if not fresh.try_add(row, limits.max_bytes, limits.max_parameters - used):
            return False
        self.done.append(self.current)
        self.used = used
        self.current = fresh
        return True

    @property
    def empty(self) -> bool:
        return not self.current.rows

    def build(self) -> Transaction:
        parts = [*self.done, self.current] if self.current.rows else self.done
        return Transaction(tuple(part.build() for part in parts))


class InsertRenderer:
    """Renders rows for one table layout; its per-column constants are computed once."""

    def __init__(self, layout: TableLayout, limits: Limits) -> None:
        self.layout = layout
        self.limits = limits
        self._shape = _Shape.of(layout)

    def render(self, rows: Sequence[Row]) -> Rendering:
        """Pack rows, in order, into as few INSERTs and transactions as the limits allow."""
        limits = self.limits
        columns = _Columns.carried_by(self._shape, rows)
        transactions: list[Transaction] = []
        oversized: list[Row] = []
        builder = _TransactionBuilder(columns, limits)
        for row in rows:
            if builder.try_add(row):
                continue
            fresh = _TransactionBuilder(columns, limits)
            if not fresh.try_add(row):
                oversized.append(row)  # too big even alone: the open transaction stays open
                continue
            if not builder.empty:
                transactions.append(builder.build())
            builder = fresh
        if not builder.empty:
            transactions.append(builder.build())
        return Rendering(tuple(transactions), tuple(oversized))
