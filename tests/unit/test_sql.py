"""INSERT rendering: constants vs parameters, hostile values, splitting at the limits."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from ingest.records import Row, SqsMessage, validate
from ingest.schema import INSERT_COLUMNS
from ingest.sql import InsertStatement, insert_prefix, render_inserts
from tests.support import payload

TABLE = "public.appsflyer_events"
LIMIT = 100_000
PARAMS = 32_767


def row(message_id: str = "m-1", **overrides: Any) -> Row:
    outcome = validate(SqsMessage(message_id, json.dumps(payload(**overrides)), 1))
    assert isinstance(outcome, Row), outcome
    return outcome


def render(
    rows: list[Row], max_bytes: int = LIMIT, max_parameters: int = PARAMS
) -> list[InsertStatement]:
    rendering = render_inserts(TABLE, rows, max_bytes=max_bytes, max_parameters=max_parameters)
    assert not rendering.oversized
    return list(rendering.statements)


def values_tuple(statement: InsertStatement) -> str:
    return statement.sql[len(insert_prefix(TABLE)) :]


_TOKEN = (
    r"(?:NULL|TRUE|FALSE|''|:p\d+|CAST\(:p\d+ AS (?:TIMESTAMP|DECIMAL\(18,6\))\)"
    r"|JSON_PARSE\(:p\d+\))"
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
    expected_tokens = ["NULL"] * len(INSERT_COLUMNS)
    names = [c.name for c in INSERT_COLUMNS]
    expected_tokens[names.index("appsflyer_id")] = ":p0"
    expected_tokens[names.index("event_name")] = ":p1"
    expected_tokens[names.index("event_time")] = "CAST(:p2 AS TIMESTAMP)"
    expected_tokens[names.index("idfa")] = "''"
    expected_tokens[names.index("wifi")] = "FALSE"
    # Parameters are numbered in the payload's field order, the message id last.
    expected_tokens[names.index("event_revenue")] = "CAST(:p3 AS DECIMAL(18,6))"
    expected_tokens[names.index("event_value")] = "JSON_PARSE(:p4)"
    expected_tokens[names.index("sqs_message_id")] = ":p5"
    assert values_tuple(statement) == "(" + ",".join(expected_tokens) + ")"
    assert statement.sql.startswith(
        'INSERT INTO "public"."appsflyer_events" ("appsflyer_id","event_name","event_time",'
    )
    assert statement.parameters == (
        ("p0", "a"),
        ("p1", "install"),
        ("p2", "2024-05-01 00:00:00"),
        ("p3", "1.50"),
        ("p4", '{"k":1}'),
        ("p5", "m-1"),
    )


HOSTILE = [
    "O'Brien",
    "it''s",
    "'); DROP TABLE appsflyer_events; --",
    ":p0",
    ":name and :other",
    "$1 $$dollar$$",
    '"double" \\backslash\\',
    "ünïcødé 😀 中文",
    "null",
    "NULL",
    "x" * 4000,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_values_travel_only_as_parameters(value: str) -> None:
    [statement] = render([row(http_referrer=value)])
    assert ("p", value) not in statement.parameters  # sanity: names are p<n>
    assert value in dict(statement.parameters).values()
    assert_only_generated_tokens(statement)
    # Every parameter name in the SQL is one we declared, and every declared one is used.
    used = set(re.findall(r":(p\d+)\b", statement.sql))
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
    rendering = render_inserts(TABLE, [small, big, small], max_bytes=30_000, max_parameters=PARAMS)
    assert [r.message_id for r in rendering.oversized] == ["big"]
    [statement] = rendering.statements  # the big row does not split its neighbours
    assert [r.message_id for r in statement.rows] == ["small", "small"]


def test_no_rows_no_statements() -> None:
    assert render([]) == []
