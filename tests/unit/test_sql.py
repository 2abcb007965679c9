"""INSERT rendering: constants vs parameters, hostile values, carried columns, DEFAULT vs NULL,
short parameter names, transactions, splitting at the limits."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from ingest.layout import TableLayout
from ingest.names import parameter_name
from ingest.records import Row, SqsMessage
from ingest.schema import TEXT_KINDS
from ingest.sql import InsertStatement, Rendering
from local.appsflyer import appsflyer_layout, validate
from tests.support import payload
from tests.unit.orders import order_row, orders_layout
from tests.unit.test_sql_boundaries import (
    SLOT,
    assert_inserts_exactly,
    bound_rows,
    named_columns,
    transaction_rows,
)
from tests.unit.test_sql_boundaries import render as render_rows

LAYOUT = appsflyer_layout()
LIMIT = 100_000
PARAMS = 32_767


def row(message_id: str = "m-1", **overrides: Any) -> Row:
    outcome = validate(SqsMessage(message_id, json.dumps(payload(**overrides)), 1))
    assert isinstance(outcome, Row), outcome
    return outcome


def render(
    rows: list[Row], max_bytes: int = LIMIT, max_parameters: int = PARAMS
) -> list[InsertStatement]:
    rendering = render_rows(rows, max_bytes=max_bytes, max_parameters=max_parameters)
    assert not rendering.oversized
    return list(rendering.statements)


def values_tuple(statement: InsertStatement) -> str:
    return statement.sql.partition(") VALUES ")[2]


_NAME = r"[a-z][0-9a-z]{3}"
_TOKEN = (
    rf"(?:NULL|DEFAULT|TRUE|FALSE|''|:{_NAME}|CAST\(:{_NAME} AS (?:TIMESTAMP|DECIMAL\(18,6\))\)"
    rf"|JSON_PARSE\(:{_NAME}\))"
)
_ROW = rf"\({_TOKEN}(?:,{_TOKEN})*\)"


def assert_only_generated_tokens(statement: InsertStatement) -> None:
    """The SQL after the column list is nothing but tokens we generate: no value leaks in."""
    assert re.fullmatch(rf"{_ROW}(?:,{_ROW})*", values_tuple(statement))


def test_golden_single_row() -> None:
    minimal = validate(
        SqsMessage(
            "m-1",
            json.dumps(
                {
                    "appsflyer_id": "a",
                    "event_name": "install",
                    "event_time": "2024-05-01 00:00:00",
                    "idfa": "",
                    "wifi": False,
                    "event_revenue": "1.50",
                    "event_value": '{"k":1}',
                    "city": None,
                }
            ),
            1,
        )
    )
    assert isinstance(minimal, Row)
    [statement] = render([minimal])
    # Only the columns the row carries are named (city is null: not carried), in table order;
    # parameters are named p000, p001... in the payload's field order, the message id last.
    assert statement.sql == (
        'INSERT INTO "public"."appsflyer_events" ("appsflyer_id","event_name","event_time",'
        '"idfa","wifi","event_value","event_revenue","sqs_message_id") VALUES '
        "(:p000,:p001,CAST(:p002 AS TIMESTAMP),'',FALSE,JSON_PARSE(:p004),"
        "CAST(:p003 AS DECIMAL(18,6)),:p005)"
    )
    assert statement.parameters == (
        ("p000", "a"),
        ("p001", "install"),
        ("p002", "2024-05-01 00:00:00"),
        ("p003", "1.50"),
        ("p004", '{"k":1}'),
        ("p005", "m-1"),
    )


HOSTILE = [
    "O'Brien",
    "it''s",
    "'); DROP TABLE appsflyer_events; --",
    ":a",
    ":p0",
    ":name and :other",
    "$1 $$dollar$$",
    '"double" \\backslash\\',
    "ünïcødé 😀 中文",
    "null",
    "NULL",
    "DEFAULT",
    "x" * 4000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_values_travel_only_as_parameters(value: str) -> None:
    [statement] = render([row(http_referrer=value)])
    assert value in dict(statement.parameters).values()
    assert_only_generated_tokens(statement)
    # Every parameter name in the SQL is one we declared, and every declared one is used.
    used = set(re.findall(rf":({_NAME})\b", values_tuple(statement)))
    assert used == {name for name, _ in statement.parameters}


def test_the_string_null_is_a_value_not_sql_null() -> None:
    [statement] = render([row(city="null")])
    assert "null" in dict(statement.parameters).values()


def test_ten_records_make_one_statement_with_repeated_values_shared() -> None:
    rows = [row(f"m-{i}") for i in range(10)]
    [statement] = render(rows)
    assert statement.sql.count("),(") == 9
    values = [v for _, v in statement.parameters]
    assert len(values) == len(set(values))  # each distinct value sent once
    assert sum(v.startswith("m-") for v in values) == 10
    assert_only_generated_tokens(statement)


def test_statement_size_counts_sql_and_parameters() -> None:
    [statement] = render([row(user_agent="é" * 100)])
    expected = len(statement.sql) + sum(
        len(n) + len(v.encode("utf-8")) for n, v in statement.parameters
    )
    assert statement.size == expected


@pytest.mark.parametrize("budget", [20_000, 50_000, 100_000])
def test_split_only_when_the_byte_budget_is_exceeded(budget: int) -> None:
    rows = [
        row(f"m-{i:04d}", customer_user_id=f"user-{i}", user_agent=f"UA {i} " + "z" * 900)
        for i in range(300)
    ]
    statements = render(rows, max_bytes=budget)
    assert all(s.size <= budget for s in statements)
    # Greedy packing: adding the next statement's first row would have broken the budget.
    for current, following in itertools.pairwise(statements):
        merged = render([*list(current.rows), following.rows[0]], max_bytes=10**9)
        assert merged[0].size > budget
    assert [r.message_id for s in statements for r in s.rows] == [r.message_id for r in rows]


def test_split_when_the_parameter_limit_is_reached() -> None:
    rows = [row(f"m-{i}", customer_user_id=f"user-{i}") for i in range(200)]
    per_row_new_values = 2  # message id and customer user id differ per row
    shared = len(render(rows[:1])[0].parameters) - per_row_new_values
    limit = 200
    statements = render(rows, max_parameters=limit)
    assert all(len(s.parameters) <= limit for s in statements)
    assert len(statements) > 1
    assert len(statements[0].rows) == (limit - shared) // per_row_new_values


def test_a_row_too_big_for_any_statement_is_set_aside() -> None:
    big = row("big", custom_data="y" * 60_000)
    small = row("small")
    rendering = render_rows([small, big, small], max_bytes=30_000)
    assert [r.message_id for r in rendering.oversized] == ["big"]
    [statement] = rendering.statements  # the big row does not split its neighbours
    assert [r.message_id for r in statement.rows] == ["small", "small"]


def test_no_rows_no_statements() -> None:
    assert render([]) == []
    assert render_rows([], statements_per_transaction=40).transactions == ()


# ---- only the columns carried ------------------------------------------------------------------


def test_an_insert_names_only_the_columns_some_row_of_the_render_carries() -> None:
    # Given two rows of the example table: one with a city, one with an app version (the base
    # payload sends both as null), and fields both send as null
    with_city = row("m-1", city="Berlin")
    with_version = row("m-2", app_version="7.1")
    never = [k for k, v in payload().items() if v is None and k not in ("city", "app_version")]
    assert never
    carried = set(with_city.present) | set(with_version.present)
    # When they are rendered together
    [statement] = render([with_city, with_version])
    # Then the INSERT names exactly the columns either carries, in table order
    names = [c.name for c in LAYOUT.columns]
    assert named_columns(statement) == [names[i] for i in sorted(carried)]
    assert {"city", "app_version"} <= set(named_columns(statement))
    assert not set(never) & set(named_columns(statement))
    # And each row fills the other's column with NULL (no default there)
    assert values_tuple(statement).count("NULL") == 2
    assert_inserts_exactly(render_rows([with_city, with_version]), [with_city, with_version])


def test_a_column_carried_only_as_null_is_named_and_filled_with_null() -> None:
    # Given a row whose install_time was sent empty: carried, but NULL
    one = row(install_time="")
    [statement] = render([one])
    assert "install_time" in named_columns(statement)
    assert bound_rows(statement)[0][[c.name for c in LAYOUT.columns].index("install_time")] is None


# ---- a table other than AppsFlyer: DEFAULT vs NULL, types and parameters -----------------------


def slots_of(statement: InsertStatement, layout: TableLayout) -> list[list[tuple[str, str]]]:
    """Each row's (column, slot text), in the order the INSERT names its columns."""
    names = named_columns(statement, layout)
    # Only tokens we generate follow VALUES (see test_values_travel_only_as_parameters).
    slots = [m.group(0) for m in SLOT.finditer(values_tuple(statement))]
    assert len(slots) % len(names) == 0
    width = len(names)
    return [
        list(zip(names, slots[i : i + width], strict=True)) for i in range(0, len(slots), width)
    ]


def inserted_by(rendering: Rendering, layout: TableLayout) -> list[Any]:
    return [v for t in rendering.transactions for v in transaction_rows(t, layout)]


def test_absent_values_take_default_where_the_table_has_one_and_null_elsewhere() -> None:
    # Given orders: one carries status, note and line_count; the other none of them
    full = order_row({"order_id": "o-1", "status": "paid", "note": "n", "line_count": 3}, "m-1")
    bare = order_row({"order_id": "o-2"}, "m-2")
    layout = orders_layout()
    # When rendered together
    rendering = render_rows([full, bare], layout=layout)
    [statement] = rendering.statements
    # Then only the carried columns are named, and the bare order fills its slots with the
    # table's DEFAULT for status and line_count (columns with a default), NULL for note
    assert named_columns(statement, layout) == [
        "order_id",
        "status",
        "note",
        "line_count",
        "message_id",
    ]
    second = dict(slots_of(statement, layout)[1])
    assert (second["status"], second["note"], second["line_count"]) == (
        "DEFAULT",
        "NULL",
        "DEFAULT",
    )
    assert inserted_by(rendering, layout) == [full.values, bare.values]


def test_a_value_sent_empty_to_a_typed_column_with_a_default_takes_the_default() -> None:
    # Given an order whose line_count (INTEGER DEFAULT ...) was sent as "" (absent)
    empty = order_row({"order_id": "o-1", "line_count": ""})
    layout = orders_layout()
    [statement] = render_rows([empty], layout=layout).statements
    # Then the column is named (the row carries it) and its slot is the table's DEFAULT
    assert dict(slots_of(statement, layout)[0])["line_count"] == "DEFAULT"


def test_a_repeated_value_never_shares_a_parameter_across_column_types() -> None:
    # Given "42" sent to columns of every kind that can hold it, in two orders
    fields = {
        "order_id": "42",
        "note": "42",
        "country": "42",
        "quantity": "42",
        "line_count": "42",
        "customer_number": "42",
        "total": "42",
        "weight": "42",
        "score": "42",
    }
    layout = orders_layout()
    rows = [order_row(fields, "m-1"), order_row(fields, "m-2")]
    [statement] = render_rows(rows, layout=layout).statements
    # Then every parameter is used in slots of one column type only (a slot's type is its
    # cast; text columns have none and count by kind, whatever their size)
    kinds = {
        c.name: c.kind.value if c.kind in TEXT_KINDS else c.redshift_type for c in layout.columns
    }
    types_of: dict[str, set[str]] = {}
    for slots in slots_of(statement, layout):
        for column, slot in slots:
            for name in re.findall(rf":({_NAME})", slot):
                types_of.setdefault(name, set()).add(kinds[column])
    assert all(len(types) == 1 for types in types_of.values()), types_of
    # And "42" travels once per type: the two VARCHAR columns share one, CHAR(2) has its own
    forty_two = [n for n, v in statement.parameters if v == "42"]
    assert sorted(next(iter(types_of[n])) for n in forty_two) == sorted(
        [
            "VARCHAR",
            "CHAR",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "DECIMAL(12,2)",
            "REAL",
            "DOUBLE PRECISION",
        ]
    )
    [text_name] = [n for n in forty_two if types_of[n] == {"VARCHAR"}]
    text_slots = [
        slot
        for slots in slots_of(statement, layout)
        for c, slot in slots
        if c in ("order_id", "note")
    ]
    assert set(text_slots) == {f":{text_name}"}
    # The second order repeats every value: it adds only its message id
    assert len(statement.parameters) == len(forty_two) + 2
    assert inserted_by(render_rows(rows, layout=layout), layout) == [r.values for r in rows]


def test_every_kind_of_value_of_another_table_is_bound_back_exactly() -> None:
    # Given an order carrying every type, and one carrying almost none
    fields = {
        "order_id": "o-1",
        "status": "new",
        "note": "ünïcødé",
        "country": "DE",
        "quantity": -32768,
        "line_count": 2147483647,
        "customer_number": "-9223372036854775808",
        "total": "1234567890.12",
        "weight": 1.5,
        "score": "-2.5e-300",
        "gift": True,
        "ordered_on": "2024-02-29",
        "paid_at": "2024-05-01T14:34:56+02:00",
        "shipped_at": "2024-05-01 12:34:56",
        "attributes": {"colour": "red", "sizes": [1, 2]},
    }
    rows = [order_row(fields, "m-1"), order_row({"order_id": "o-2", "gift": False}, "m-2")]
    layout = orders_layout()
    # Then binding the parameters gives back exactly the validated values, for every slot
    assert inserted_by(render_rows(rows, layout=layout), layout) == [r.values for r in rows]


# ---- parameter names ---------------------------------------------------------------------------


def test_parameter_names_are_distinct_and_none_is_a_prefix_of_another() -> None:
    names = [parameter_name(n) for n in range(32_767 + 1_600)]
    assert names[:3] == ["p000", "p001", "p002"]
    assert names[35:37] == ["p00z", "p010"]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(_NAME, name) for name in names)
    # One length for every name (and every letter: the guard's g000, the look-up's m000):
    # whatever the service's tokeniser does, no name can be read as the start of another.
    assert {len(name) for name in names} == {4}
    assert not any(a != b and b.startswith(a) for a in names[:400] for b in names[:400])
    with pytest.raises(ValueError, match="outside"):
        parameter_name(36**3)


def test_a_name_in_the_sql_is_always_followed_by_a_non_name_character() -> None:
    # Given a statement with more than 36 parameters (names p000..p00z, then p010...)
    rows = [row(f"m-{i}", customer_user_id=f"user-{i}") for i in range(40)]
    [statement] = render(rows)
    assert len(statement.parameters) > 36
    # Then every token ends at , or ) or a space
    for token in re.finditer(r":([a-z][0-9a-z]{3})(.)", statement.sql):
        assert token.group(2) in ",) ", token.group(0)


# ---- transactions ------------------------------------------------------------------------------


def many_rows(count: int = 120) -> list[Row]:
    return [
        row(f"m-{i:04d}", customer_user_id=f"user-{i}", user_agent=f"UA {i} " + "z" * 900)
        for i in range(count)
    ]


@pytest.mark.parametrize("per_transaction", [1, 2, 3, 40])
def test_statements_per_transaction_bounds_the_inserts_of_each_transaction(
    per_transaction: int,
) -> None:
    rows = many_rows()
    rendering = render_rows(rows, max_bytes=20_000, statements_per_transaction=per_transaction)
    counts = [len(t.statements) for t in rendering.transactions]
    assert max(counts) <= per_transaction
    # Greedy: with parameters to spare, every transaction but the last is full
    assert all(count == per_transaction for count in counts[:-1])
    assert len(rendering.statements) > per_transaction or len(counts) == 1
    assert [r.message_id for t in rendering.transactions for r in t.rows] == [
        r.message_id for r in rows
    ]


@pytest.mark.parametrize(("max_bytes", "max_parameters"), [(20_000, 32_767), (8_192, 200)])
@pytest.mark.parametrize("per_transaction", [1, 5, 40])
def test_every_insert_is_within_the_byte_budget_and_each_transaction_within_its_parameters(
    max_bytes: int, max_parameters: int, per_transaction: int
) -> None:
    rows = many_rows(60) + [row(f"x-{i}", user_agent="é" * (i * 37 % 700)) for i in range(60)]
    rendering = render_rows(
        rows,
        max_bytes=max_bytes,
        max_parameters=max_parameters,
        statements_per_transaction=per_transaction,
    )
    assert rendering.oversized == ()
    for transaction in rendering.transactions:
        # Names unique across the transaction's INSERTs, one shared list within the limit
        names = [name for s in transaction.statements for name, _ in s.parameters]
        assert len(names) == len(set(names))
        assert len(transaction.parameters) == len(names) <= max_parameters
        for statement in transaction.statements:
            # Each INSERT's size is its SQL plus its own parameters, in UTF-8 bytes
            own = sum(len(n) + len(v.encode("utf-8")) for n, v in statement.parameters)
            assert statement.size == len(statement.sql) + own
            assert statement.size <= max_bytes
    assert_inserts_exactly(rendering, rows)


def test_a_transaction_shares_one_parameter_list_with_names_continuing_across_inserts() -> None:
    rows = many_rows(30)
    rendering = render_rows(rows, max_bytes=20_000, statements_per_transaction=40)
    [transaction] = rendering.transactions
    assert len(transaction.statements) > 1
    # The shared list is every INSERT's parameters, in order, none lost to a name clash
    assert transaction.parameters == tuple(p for s in transaction.statements for p in s.parameters)
    assert transaction.sqls == tuple(s.sql for s in transaction.statements)
    second = transaction.statements[1]
    assert second.parameters[0][0] == parameter_name(len(transaction.statements[0].parameters))


def test_rendering_lists_its_statements_in_transaction_order() -> None:
    rendering: Rendering = render_rows(many_rows(), max_bytes=20_000, statements_per_transaction=3)
    assert rendering.statements == tuple(s for t in rendering.transactions for s in t.statements)
