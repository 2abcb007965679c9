"""The statement builder at its exact limits: bytes (UTF-8, not characters), parameters, and the
values a statement inserts once its parameters are bound."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ingest.layout import TableLayout
from ingest.records import Row, SqlValue, SqsMessage
from ingest.schema import ColumnKind, qualified_name
from ingest.sql import InsertRenderer, InsertStatement, Limits, Rendering, Transaction
from local.appsflyer import appsflyer_layout, validate
from tests.support import payload

PARAMS = 32_767
BIG = 10**9
LAYOUT = appsflyer_layout()
NAMES = [c.name for c in LAYOUT.columns]

_NAME = r"[a-z][0-9a-z]{3}"
# One slot of a VALUES row, as the builder writes it.
SLOT = re.compile(
    rf"NULL|DEFAULT|TRUE|FALSE|''|:(?P<text>{_NAME})"
    rf"|CAST\(:(?P<cast>{_NAME}) AS (?P<type>[A-Z ]+(?:\(\d+(?:,\d+)?\))?)\)"
    rf"|JSON_PARSE\(:(?P<json>{_NAME})\)"
)
_COLUMN = re.compile(r'"((?:[^"]|"")*)"')
_CONSTANTS: dict[str, SqlValue] = {"NULL": None, "DEFAULT": None, "TRUE": True, "FALSE": False}


def row(message_id: str = "m-1", body: Any = None, **overrides: Any) -> Row:
    text = body if isinstance(body, str) else json.dumps(payload(**overrides))
    outcome = validate(SqsMessage(message_id, text, 1))
    assert isinstance(outcome, Row), outcome
    return outcome


def render(
    rows: list[Row],
    max_bytes: int = BIG,
    max_parameters: int = PARAMS,
    statements_per_transaction: int = 1,
    layout: TableLayout = LAYOUT,
) -> Rendering:
    limits = Limits(max_bytes, max_parameters, statements_per_transaction)
    return InsertRenderer(layout, limits).render(rows)


def named_columns(statement: InsertStatement, layout: TableLayout = LAYOUT) -> list[str]:
    """The columns an INSERT names, as its SQL spells them (after the table's own name)."""
    head, separator, _ = statement.sql.partition(") VALUES ")
    assert separator, statement.sql[:200]
    prefix = f"INSERT INTO {qualified_name(layout.table)} ("
    assert head.startswith(prefix), head[:200]
    listed = head[len(prefix) :]
    names = [m.replace('""', '"') for m in _COLUMN.findall(listed)]
    assert ",".join(f'"{n}"' for n in names) == listed, "the column list is quoted names only"
    return names


def bound_rows(
    statement: InsertStatement,
    layout: TableLayout = LAYOUT,
    parameters: dict[str, str] | None = None,
) -> list[tuple[SqlValue, ...]]:
    """What the statement inserts: each row's value for every column of the layout, with its
    parameters bound, checking that each slot suits its column (a cast to its type, DEFAULT
    exactly where the table has one) and that every parameter it declares is used.
    `parameters` is the transaction's shared list, when the statement is one of several."""
    own = dict(statement.parameters)
    assert len(own) == len(statement.parameters), "a parameter name is declared twice"
    bindings = own if parameters is None else parameters
    columns = {c.name: (i, c) for i, c in enumerate(layout.columns)}
    named = [columns[name] for name in named_columns(statement, layout)]
    assert [i for i, _ in named] == sorted(i for i, _ in named), "columns in table order"
    values_part = statement.sql.partition(") VALUES ")[2]
    used: set[str] = set()
    rows: list[tuple[SqlValue, ...]] = []
    position = 0
    while position < len(values_part):
        assert values_part[position] == "(", values_part[position : position + 40]
        position += 1
        values: list[SqlValue] = [None] * len(layout.columns)
        for number, (index, column) in enumerate(named):
            slot = SLOT.match(values_part, position)
            assert slot is not None, values_part[position : position + 40]
            position = slot.end()
            text = slot.group(0)
            name = slot.group("text") or slot.group("cast") or slot.group("json")
            if name is None and text == "''":
                assert column.kind in (ColumnKind.VARCHAR, ColumnKind.CHAR), column.name
                values[index] = ""
            elif name is None:
                if text in ("TRUE", "FALSE"):
                    assert column.kind is ColumnKind.BOOLEAN, column.name
                else:  # an absent value: the table's DEFAULT where it has one, else NULL
                    assert text == ("DEFAULT" if column.has_default else "NULL"), column.name
                values[index] = _CONSTANTS[text]
            else:
                used.add(name)
                values[index] = bindings[name]  # KeyError: a slot names an undeclared parameter
                if column.kind in (ColumnKind.VARCHAR, ColumnKind.CHAR):
                    assert slot.group("text"), (column.name, text)
                elif column.kind is ColumnKind.SUPER:
                    assert slot.group("json"), (column.name, text)
                else:
                    assert slot.group("type") == column.redshift_type, (column.name, text)
            separator = values_part[position]
            position += 1
            assert separator == ("," if number < len(named) - 1 else ")")
        rows.append(tuple(values))
        if position < len(values_part):
            assert values_part[position] == ","
            position += 1
    assert used == set(own), "every parameter given must be used"
    return rows


def transaction_rows(transaction: Transaction, layout: TableLayout = LAYOUT) -> list[Any]:
    """What a transaction inserts, binding each INSERT against the one shared parameter list."""
    shared = dict(transaction.parameters)
    declared = [name for s in transaction.statements for name, _ in s.parameters]
    assert len(declared) == len(set(declared)), "parameter names unique across the transaction"
    assert len(shared) == len(declared)
    return [values for s in transaction.statements for values in bound_rows(s, layout, shared)]


def assert_inserts_exactly(rendering: Rendering, expected: list[Row]) -> None:
    inserted = [values for t in rendering.transactions for values in transaction_rows(t)]
    assert inserted == [r.values for r in expected]
    assert [r for s in rendering.statements for r in s.rows] == expected


def single_size(one: Row) -> int:
    [statement] = render([one]).statements
    return statement.size


# ---- what a statement inserts ------------------------------------------------------------------


def test_bound_statement_inserts_every_value_of_every_row() -> None:
    # Given rows mixing every kind of slot: booleans, empty strings, typed casts, SUPER, extras
    rows = [
        row("m-1", wifi=True, is_retargeting=False, idfa="", install_time="", af_new_field="x"),
        row("m-2", wifi=False, city="Berlin", install_time="2024-05-01 00:00:00"),
        row("m-3", city="2024-05-01 00:00:00", event_revenue="0.000001", af_c_id="4.99"),
    ]
    rendering = render(rows)
    # Then binding the parameters gives back exactly the validated values, row by row
    assert_inserts_exactly(rendering, rows)
    first = bound_rows(rendering.statements[0])[0]
    assert first[NAMES.index("wifi")] is True


def test_a_value_is_shared_only_between_columns_of_the_same_kind() -> None:
    # Given a timestamp's text also sent as text, and equal timestamps in two typed columns
    stamp = "2024-05-01 12:34:56.789"
    one = row(city=stamp, event_time=stamp, install_time=stamp)
    [statement] = render([one]).statements
    names_for_stamp = [n for n, v in statement.parameters if v == stamp]
    # Then the text slot and the timestamp slots use two parameters, not one
    assert len(names_for_stamp) == 2
    [typed_name] = [n for n in names_for_stamp if f"CAST(:{n} AS TIMESTAMP)" in statement.sql]
    [text_name] = [n for n in names_for_stamp if n != typed_name]
    assert statement.sql.count(f"CAST(:{typed_name} AS TIMESTAMP)") == 2
    assert statement.sql.count(f"CAST(:{text_name} AS TIMESTAMP)") == 0
    assert_inserts_exactly(render([one]), [one])


def test_a_null_from_an_empty_typed_value_does_not_end_the_row_early() -> None:
    # install_time "" becomes NULL, in the middle of the fields: everything after it still counts
    body = json.dumps({"install_time": "", **payload(city="after-the-null")})
    one = row(body=body)
    assert_inserts_exactly(render([one]), [one])


def test_row_without_a_present_hint_renders_every_value() -> None:
    full = row(city="Berlin", af_new_field="x")
    bare = Row(full.message_id, 1, full.values)  # present defaults to ()
    rendering = render([bare])
    assert bound_rows(rendering.statements[0]) == [full.values]


# ---- the byte budget ---------------------------------------------------------------------------


def test_a_statement_exactly_at_the_byte_budget_is_accepted_one_byte_less_is_not() -> None:
    one = row(user_agent="UA " + "z" * 500)
    size = single_size(one)
    assert [s.size for s in render([one], max_bytes=size).statements] == [size]
    at_one_less = render([one], max_bytes=size - 1)
    assert at_one_less.statements == ()
    assert at_one_less.oversized == (one,)


@pytest.mark.parametrize("character", ["é", "€", "😀"])  # 2, 3 and 4 bytes in UTF-8
def test_non_ascii_values_are_budgeted_in_utf8_bytes(character: str) -> None:
    one = row(user_agent=character * 200)
    [statement] = render([one]).statements
    encoded = len(statement.sql) + sum(len(n) + len(v.encode()) for n, v in statement.parameters)
    assert statement.size == encoded
    assert statement.size > len(statement.sql) + sum(
        len(n) + len(v) for n, v in statement.parameters
    )
    # The builder's own budget uses the same bytes: a limit one byte short refuses the row.
    assert render([one], max_bytes=encoded).statements == (statement,)
    assert render([one], max_bytes=encoded - 1).oversized == (one,)


def test_the_comma_between_rows_counts_against_the_budget() -> None:
    rows = [row("m-1", city="a"), row("m-2", city="b")]
    [together] = render(rows).statements
    # Exactly the two-row size fits both rows in one statement; a byte less splits them.
    assert [s.rows for s in render(rows, max_bytes=together.size).statements] == [tuple(rows)]
    split = render(rows, max_bytes=together.size - 1).statements
    assert [s.rows for s in split] == [(rows[0],), (rows[1],)]


def test_a_second_insert_of_a_transaction_is_budgeted_with_its_longer_names() -> None:
    # Given 30 rows whose values all differ: the second INSERT of a transaction continues the
    # parameter names (a0, b0, ...), so the same rows cost it more bytes than the first
    rows = [row(f"m-{i:02d}", city=f"city-{i:02d}", region=f"region-{i:02d}") for i in range(30)]
    [alone] = render(rows[:1]).statements
    # When a transaction may hold several INSERTs of about one row each
    rendering = render(rows, max_bytes=alone.size + 10, statements_per_transaction=40)
    # Then every INSERT, first or later, stays within the budget counting its own names
    assert rendering.oversized == ()
    for statement in rendering.statements:
        assert statement.size <= alone.size + 10
    assert_inserts_exactly(rendering, rows)


# ---- the parameter limit -----------------------------------------------------------------------


def test_a_statement_exactly_at_the_parameter_limit_is_accepted_one_less_is_not() -> None:
    rows = [row("m-1", city="a"), row("m-2", city="b")]
    [together] = render(rows).statements
    count = len(together.parameters)
    assert len(render(rows, max_parameters=count).statements) == 1
    split = render(rows, max_parameters=count - 1).statements
    assert [len(s.rows) for s in split] == [1, 1]
    assert all(len(s.parameters) <= count - 1 for s in split)


@pytest.mark.parametrize("spare", [0, 1])
def test_a_transaction_exactly_at_the_parameter_limit_holds_both_inserts(spare: int) -> None:
    # Given two rows that need two INSERTs (one byte short of fitting one), in one
    # transaction if its parameter list holds both
    rows = [row("m-1", city="a"), row("m-2", city="b")]
    [together] = render(rows).statements
    budget = together.size - 1
    one_each = render(rows, max_bytes=budget, statements_per_transaction=40)
    assert [len(t.statements) for t in one_each.transactions] == [2]
    total = len(one_each.transactions[0].parameters)
    # When the transaction's one parameter list may hold exactly their parameters, or one less
    rendering = render(
        rows, max_bytes=budget, max_parameters=total - spare, statements_per_transaction=40
    )
    # Then both share a transaction only when the whole list fits
    assert [len(t.statements) for t in rendering.transactions] == ([2] if spare == 0 else [1, 1])
    assert all(len(t.parameters) <= total - spare for t in rendering.transactions)
    assert_inserts_exactly(rendering, rows)


# ---- a row set aside leaves nothing behind -----------------------------------------------------


@pytest.mark.parametrize(
    "shared",
    [
        {"customer_user_id": "shared-user", "af_sub1": "shared-sub"},  # text parameters
        {"install_time": "2023-01-02 03:04:05", "af_cost_value": "7.25"},  # typed parameters
    ],
)
@pytest.mark.parametrize("per_transaction", [1, 40])
def test_values_of_an_oversized_row_are_not_left_in_the_open_statement(
    shared: dict[str, str], per_transaction: int
) -> None:
    # Given a row too big for any statement, whose new values the next row also carries
    small = row("m-1")
    big = row("m-big", custom_data="y" * 20_000, **shared)
    after = row("m-2", **shared)
    rendering = render(
        [small, big, after], max_bytes=10_000, statements_per_transaction=per_transaction
    )
    # Then it is set aside, and the statement still open binds the next row's own values
    assert rendering.oversized == (big,)
    assert_inserts_exactly(rendering, [small, after])
