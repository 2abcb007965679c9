"""The statement builder at its exact limits: bytes (UTF-8, not characters), parameters, and the
values a statement inserts once its parameters are bound."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ingest.records import Row, SqlValue, SqsMessage, validate
from ingest.schema import INSERT_COLUMNS, ColumnKind
from ingest.sql import InsertStatement, Rendering, insert_prefix, render_inserts
from tests.support import payload

TABLE = "public.appsflyer_events"
PARAMS = 32_767
BIG = 10**9

# One slot of a VALUES row, as the builder writes it.
_SLOT = re.compile(
    r"NULL|TRUE|FALSE|''|:(?P<text>p\d+)"
    r"|CAST\(:(?P<cast>p\d+) AS (?P<type>TIMESTAMP|DECIMAL\(\d+,\d+\))\)"
    r"|JSON_PARSE\(:(?P<json>p\d+)\)"
)


def row(message_id: str = "m-1", body: Any = None, **overrides: Any) -> Row:
    text = body if isinstance(body, str) else json.dumps(payload(**overrides))
    outcome = validate(SqsMessage(message_id, text, 1))
    assert isinstance(outcome, Row), outcome
    return outcome


def render(rows: list[Row], max_bytes: int = BIG, max_parameters: int = PARAMS) -> Rendering:
    return render_inserts(TABLE, rows, max_bytes=max_bytes, max_parameters=max_parameters)


def bound_rows(statement: InsertStatement) -> list[tuple[SqlValue, ...]]:
    """What the statement inserts: each row's slots with its parameters bound, checking that
    each slot's cast suits its column and that every declared parameter is used."""
    parameters = dict(statement.parameters)
    assert len(parameters) == len(statement.parameters), "a parameter name is declared twice"
    values_part = statement.sql[len(insert_prefix(TABLE)) :]
    used: set[str] = set()
    rows: list[tuple[SqlValue, ...]] = []
    position = 0
    while position < len(values_part):
        assert values_part[position] == "(", values_part[position : position + 40]
        position += 1
        slots: list[SqlValue] = []
        for column in INSERT_COLUMNS:
            slot = _SLOT.match(values_part, position)
            assert slot is not None, values_part[position : position + 40]
            position = slot.end()
            text = slot.group(0)
            name = slot.group("text") or slot.group("cast") or slot.group("json")
            constants: dict[str, SqlValue] = {"NULL": None, "TRUE": True, "FALSE": False, "''": ""}
            if name is None:
                slots.append(constants[text])
            else:
                used.add(name)
                slots.append(parameters[name])  # KeyError: a slot names an undeclared parameter
                if column.kind is ColumnKind.VARCHAR:
                    assert slot.group("text"), (column.name, text)
                elif column.kind is ColumnKind.SUPER:
                    assert slot.group("json"), (column.name, text)
                else:
                    expected = "TIMESTAMP" if column.kind is ColumnKind.TIMESTAMP else None
                    assert slot.group("type") == (expected or column.redshift_type)
            separator = values_part[position]
            position += 1
            assert separator == ("," if column is not INSERT_COLUMNS[-1] else ")")
        rows.append(tuple(slots))
        if position < len(values_part):
            assert values_part[position] == ","
            position += 1
    assert used == set(parameters), "every parameter given must be used"
    return rows


def assert_inserts_exactly(rendering: Rendering, expected: list[Row]) -> None:
    inserted = [values for s in rendering.statements for values in bound_rows(s)]
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
    assert first[[c.name for c in INSERT_COLUMNS].index("wifi")] is True


def test_a_value_is_shared_only_between_columns_of_the_same_kind() -> None:
    # Given a timestamp's text also sent as text, and equal timestamps in two typed columns
    stamp = "2024-05-01 12:34:56.789"
    one = row(city=stamp, event_time=stamp, install_time=stamp)
    [statement] = render([one]).statements
    names_for_stamp = [n for n, v in statement.parameters if v == stamp]
    # Then the text slot and the timestamp slots use two parameters, not one
    assert len(names_for_stamp) == 2
    assert statement.sql.count(f"CAST(:{names_for_stamp[0]} AS TIMESTAMP)") + statement.sql.count(
        f"CAST(:{names_for_stamp[1]} AS TIMESTAMP)"
    ) == len([c for c in INSERT_COLUMNS if c.name in ("event_time", "install_time")])
    assert_inserts_exactly(render([one]), [one])


def test_a_null_from_an_empty_typed_value_does_not_end_the_row_early() -> None:
    # install_time "" becomes NULL, in the middle of the fields: everything after it still counts
    body = json.dumps({"install_time": "", **payload(city="after-the-null")})
    one = row(body=body)
    assert_inserts_exactly(render([one]), [one])


def test_row_without_a_present_hint_renders_every_value() -> None:
    full = row(city="Berlin", af_new_field="x")
    bare = Row(full.message_id, 1, full.values)  # present defaults to (): visit every value
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


# ---- the parameter limit -----------------------------------------------------------------------


def test_a_statement_exactly_at_the_parameter_limit_is_accepted_one_less_is_not() -> None:
    rows = [row("m-1", city="a"), row("m-2", city="b")]
    [together] = render(rows).statements
    count = len(together.parameters)
    assert len(render(rows, max_parameters=count).statements) == 1
    split = render(rows, max_parameters=count - 1).statements
    assert [len(s.rows) for s in split] == [1, 1]
    assert all(len(s.parameters) <= count - 1 for s in split)


# ---- a row set aside leaves nothing behind -----------------------------------------------------


@pytest.mark.parametrize(
    "shared",
    [
        {"customer_user_id": "shared-user", "af_sub1": "shared-sub"},  # text parameters
        {"install_time": "2023-01-02 03:04:05", "af_cost_value": "7.25"},  # typed parameters
    ],
)
def test_values_of_an_oversized_row_are_not_left_in_the_open_statement(
    shared: dict[str, str],
) -> None:
    # Given a row too big for any statement, whose new values the next row also carries
    small = row("m-1")
    big = row("m-big", custom_data="y" * 20_000, **shared)
    after = row("m-2", **shared)
    rendering = render([small, big, after], max_bytes=10_000)
    # Then it is set aside, and the statement still open binds the next row's own values
    assert rendering.oversized == (big,)
    assert_inserts_exactly(rendering, [small, after])
