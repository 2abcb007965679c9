"""Reading a record for any table: every type the function writes (accepted spellings, ranges,
exact digits), case-folded and mapped fields, and fields a table has no room for. The table is
an orders table (tests/unit/orders.py), not AppsFlyer: nothing here knows the example."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.layout import TableLayout, build_layout
from ingest.records import Reason, Rejection, Row, SqlValue
from ingest.schema import Column, ColumnKind, TableSchema
from tests.unit.orders import ORDER_ROLES, ORDERS, orders_layout, read

LAYOUT = orders_layout()
INDEX = {c.name: i for i, c in enumerate(LAYOUT.columns)}


def order(**fields: Any) -> dict[str, Any]:
    return {"order_id": "o-1", **fields}


def value(fields: dict[str, Any] | str, column: str, layout: TableLayout = LAYOUT) -> SqlValue:
    outcome = read(fields, layout=layout)
    assert isinstance(outcome, Row), outcome
    return outcome.values[[c.name for c in layout.columns].index(column)]


def rejection(fields: dict[str, Any] | str, layout: TableLayout = LAYOUT) -> tuple[Reason, str]:
    outcome = read(fields, layout=layout)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason, outcome.detail


def with_literal(column: str, literal: str, **fields: Any) -> str:
    """A body with one field written as a raw JSON literal (a number no float can hold)."""
    return json.dumps(order(**fields))[:-1] + f', "{column}": {literal}}}'


def test_an_order_becomes_a_row_of_its_own_table() -> None:
    # Given an order with a value for every column of the orders table
    fields = order(
        status="paid",
        note="two boxes",
        country="DE",
        quantity=3,
        line_count="2",
        customer_number=9_000_000_000,
        total="19.90",
        weight=1.25,
        score="0.5",
        gift=False,
        ordered_on="2024-05-01",
        paid_at="2024-05-01T14:34:56+02:00",
        shipped_at="2024-05-02T08:00:00Z",
        attributes={"colour": "red"},
    )
    outcome = read(fields, message_id="m-7")
    # Then each value is in its column, as the column type reads it, and the message id too
    assert isinstance(outcome, Row)
    assert outcome.values == (
        "o-1",
        "paid",
        "two boxes",
        "DE",
        "3",
        "2",
        "9000000000",
        "19.90",
        "1.25",
        "0.5",
        False,
        "2024-05-01",
        "2024-05-01 14:34:56+02:00",
        "2024-05-02 08:00:00",
        '{"colour":"red"}',
        "m-7",
    )
    assert sorted(outcome.present) == list(range(len(LAYOUT.columns)))
    assert outcome.dropped_fields == 0


def test_present_lists_the_values_sent_and_the_message_id() -> None:
    outcome = read(order(note=None, quantity="", gift=True))
    assert isinstance(outcome, Row)
    # A null is not carried; "" in a typed column is carried as NULL (see test_sql)
    assert sorted(outcome.present) == sorted(
        [INDEX["order_id"], INDEX["quantity"], INDEX["gift"], INDEX["message_id"]]
    )
    assert outcome.values[INDEX["quantity"]] is None


# ---- SMALLINT / INTEGER / BIGINT ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "low", "high"),
    [
        ("quantity", -(2**15), 2**15 - 1),
        ("line_count", -(2**31), 2**31 - 1),
        ("customer_number", -(2**63), 2**63 - 1),
    ],
)
def test_integers_take_exactly_their_types_range(column: str, low: int, high: int) -> None:
    for edge in (low, high):
        # A JSON number at the edge keeps every digit (float(2**63 - 1) would not)
        assert value(with_literal(column, str(edge)), column) == str(edge)
        assert value(order(**{column: str(edge)}), column) == str(edge)
    for beyond in (low - 1, high + 1):
        reason, detail = rejection(with_literal(column, str(beyond)))
        assert reason is Reason.INVALID_NUMBER
        expected_type = LAYOUT.columns[INDEX[column]].redshift_type
        assert detail == f"{column} is out of range for {expected_type}"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("7", "7"),
        ("+7", "7"),
        ("-0", "0"),
        ("007", "7"),  # as a string: JSON itself refuses a number with leading zeros
        ("-32768", "-32768"),
        ("", None),
    ],
)
def test_integer_strings_are_read_as_the_same_integer(raw: str, stored: str | None) -> None:
    assert value(order(quantity=raw), "quantity") == stored


@pytest.mark.parametrize(
    "literal", ["7.0", "7.5", "1e2", "1E2", '"7.0"', '"1e2"', '" 7"', '"7 "', '"0x10"', '"1_000"']
)
def test_integers_refuse_fractions_exponents_and_loose_spellings(literal: str) -> None:
    assert rejection(with_literal("quantity", literal)) == (
        Reason.INVALID_NUMBER,
        "quantity is not an integer (ASCII digits)",
    )


@pytest.mark.parametrize(
    "raw", ["\u0661\u0662", "\uff11\uff12", "12\u00b2"]
)  # Arabic, full-width, ²
def test_integers_refuse_digits_that_are_not_ascii(raw: str) -> None:
    assert rejection(order(quantity=raw))[0] is Reason.INVALID_NUMBER


@pytest.mark.parametrize("raw", [True, False, [1], {"n": 1}])
def test_integers_must_be_numbers_or_number_strings(raw: Any) -> None:
    assert rejection(order(quantity=raw)) == (Reason.INVALID_NUMBER, "quantity must be an integer")


def test_an_integer_longer_than_any_bigint_is_refused_by_its_length() -> None:
    assert rejection(with_literal("customer_number", "1" * 30))[1].endswith(
        "out of range for BIGINT"
    )
    assert rejection(with_literal("customer_number", "1" * 5000)) == (
        Reason.INVALID_NUMBER,
        "customer_number is not an integer (ASCII digits)",
    )


# ---- REAL / DOUBLE PRECISION -------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    ["1.5", "0.1", "19.90", "-2.5e-3", "1E10", "123456789012345678901234567890", "-0", "0"],
)
@pytest.mark.parametrize("column", ["weight", "score"])
def test_floats_keep_the_digits_sent_never_a_python_float(literal: str, column: str) -> None:
    # Given the number as a JSON number and as a string
    for body in (with_literal(column, literal), order(**{column: literal})):
        stored = value(body, column)
        # Then the column gets the text sent; the database rounds it as its type does
        assert type(stored) is str
        assert stored == literal


@pytest.mark.parametrize(("raw", "stored"), [(".5", ".5"), ("5.", "5."), ("+5", "+5")])
def test_float_strings_in_json_number_shape_are_kept(raw: str, stored: str) -> None:
    assert value(order(score=raw), "score") == stored


@pytest.mark.parametrize(
    ("column", "literal", "fits"),
    [
        ("weight", "3.4028234663852886e38", True),
        ("weight", "-3.4028234663852886e38", True),
        ("weight", "3.5e38", False),
        ("score", "3.5e38", True),
        ("score", "1.7976931348623157e308", True),
        ("score", "-1.8e308", False),
        ("score", "1e999999999999999999999", False),
    ],
)
def test_floats_beyond_their_types_largest_value_are_refused(
    column: str, literal: str, fits: bool
) -> None:
    body = with_literal(column, literal)
    if fits:
        assert value(body, column) == literal
    else:
        reason, detail = rejection(body)
        assert reason is Reason.INVALID_NUMBER
        assert detail.startswith(f"{column} is out of range")


@pytest.mark.parametrize(("column", "literal"), [("weight", "1e-50"), ("score", "1e-400")])
def test_floats_too_small_for_their_type_are_refused(column: str, literal: str) -> None:
    assert rejection(with_literal(column, literal))[0] is Reason.INVALID_NUMBER


@pytest.mark.parametrize("column", ["weight", "score"])
def test_a_zero_with_a_large_exponent_is_a_valid_float(column: str) -> None:
    literal = "0e999999999999999999999"
    assert value(with_literal(column, literal), column) == literal


@pytest.mark.parametrize(
    "raw", ["NaN", "Infinity", "-inf", "1_0", "0x1p3", " 1", "1 ", "1e", ".", "--1", "\u0661"]
)
def test_floats_refuse_what_is_not_a_json_number(raw: str) -> None:
    assert rejection(order(score=raw)) == (Reason.INVALID_NUMBER, "score is not a number")


@pytest.mark.parametrize("raw", [True, [1.5], {"v": 1}])
def test_floats_must_be_numbers_or_number_strings(raw: Any) -> None:
    assert rejection(order(weight=raw)) == (Reason.INVALID_NUMBER, "weight must be a number")


def test_empty_numbers_mean_null() -> None:
    outcome = read(order(quantity="", weight="", score="", total=""))
    assert isinstance(outcome, Row)
    assert [outcome.values[INDEX[c]] for c in ("quantity", "weight", "score", "total")] == [
        None
    ] * 4


# ---- DECIMAL(p,s): the shape fast path is per column -------------------------------------------

DECIMALS = TableSchema(
    "shop.prices",
    (
        Column("message_id", ColumnKind.VARCHAR, size=128, not_null=True),
        Column("total", ColumnKind.DECIMAL, precision=12, scale=2),
        Column("rate", ColumnKind.DECIMAL, precision=5, scale=5),
        Column("serial", ColumnKind.DECIMAL, precision=38, scale=0),
    ),
)
PRICES = build_layout(DECIMALS, ORDER_ROLES, "primary")


@pytest.mark.parametrize(
    ("column", "raw", "stored"),
    [
        ("total", "1234567890.12", "1234567890.12"),  # 10 integer digits, 2 places: as sent
        ("total", "1.10", "1.10"),  # within the shape: passed through unchanged
        ("total", "-0.5", "-0.5"),
        ("total", "1.100", "1.1"),  # beyond the shape: read exactly, trailing zero dropped
        ("total", "0000000000012", "12"),
        ("rate", "0.12345", "0.12345"),
        ("rate", "-0.00001", "-0.00001"),
        ("rate", ".5", "0.5"),
        ("serial", "9" * 38, "9" * 38),
        ("serial", "+7", "7"),
    ],
)
def test_decimals_fit_their_own_columns_precision_and_scale(
    column: str, raw: str, stored: str
) -> None:
    assert value({column: raw}, column, PRICES) == stored


@pytest.mark.parametrize(
    ("column", "raw", "detail"),
    [
        ("total", "12345678901.12", "total exceeds DECIMAL(12,2) (10 integer digits)"),
        ("total", "0.125", "total has more than 2 decimal places for DECIMAL(12,2)"),
        ("rate", "1.0", "rate exceeds DECIMAL(5,5) (0 integer digits)"),
        ("rate", "0.123456", "rate has more than 5 decimal places for DECIMAL(5,5)"),
        ("serial", "9" * 39, "serial exceeds DECIMAL(38,0) (38 integer digits)"),
        ("serial", "0.5", "serial has more than 0 decimal places for DECIMAL(38,0)"),
    ],
)
def test_decimals_outside_their_own_column_name_it_and_its_type(
    column: str, raw: str, detail: str
) -> None:
    assert rejection({column: raw}, PRICES) == (Reason.INVALID_DECIMAL, detail)


def test_the_same_text_fits_one_decimal_column_and_not_another() -> None:
    outcome = read({"total": "0.12345", "rate": "0.12345"}, layout=PRICES)
    assert outcome == Rejection(
        "m-1", Reason.INVALID_DECIMAL, "total has more than 2 decimal places for DECIMAL(12,2)"
    )
    assert value({"rate": "0.12345", "total": "0.12"}, "rate", PRICES) == "0.12345"


@pytest.mark.parametrize(("literal", "stored"), [("1e3", "1000"), ("1.5E+2", "150"), ("-0.0", "0")])
def test_decimal_json_numbers_are_read_exactly(literal: str, stored: str) -> None:
    assert value(f'{{"serial": {literal}}}', "serial", PRICES) == stored


_DIGITS = "1234567890" * 3 + "12345678"  # 38 significant digits


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f'{{"serial": {_DIGITS}}}', id="json-number"),
        pytest.param(f'{{"serial": "+{_DIGITS}"}}', id="signed-string"),
        pytest.param(f'{{"serial": "{_DIGITS}."}}', id="trailing-point"),
    ],
)
def test_a_decimal_of_up_to_38_digits_keeps_every_digit(body: str) -> None:
    assert value(body, "serial", PRICES) == _DIGITS


# ---- DATE --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [("2024-02-29", "2024-02-29"), ("", None)])
def test_dates(raw: str, stored: str | None) -> None:
    assert value(order(ordered_on=raw), "ordered_on") == stored


@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-29",  # no such day
        "2024-13-01",
        "0000-01-01",
        "2024-5-1",
        "20240501",
        "2024-05-01 00:00:00",  # a time of day would be lost: refused, not truncated
        "2024-05-01T12:00:00Z",
        " 2024-05-01",
        20240501,
    ],
)
def test_bad_dates_are_refused_naming_the_column(raw: Any) -> None:
    assert rejection(order(ordered_on=raw)) == (
        Reason.INVALID_DATE,
        "ordered_on is not a date YYYY-MM-DD",
    )


# ---- TIMESTAMPTZ: the instant, with the offset it was sent in ----------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-05-01T14:34:56+02:00", "2024-05-01 14:34:56+02:00"),
        ("2024-05-01 14:34:56.789+0200", "2024-05-01 14:34:56.789000+02:00"),
        ("2024-05-01T12:34:56Z", "2024-05-01 12:34:56+00:00"),
        ("2024-05-01T07:04:56-05:30", "2024-05-01 07:04:56-05:30"),
        # Without an offset: UTC, as AppsFlyer's own times are, whatever the session's zone
        ("2024-05-01 12:34:56.789", "2024-05-01 12:34:56.789000+00:00"),
        ("2024-05-01", "2024-05-01 00:00:00+00:00"),
    ],
)
def test_timestamptz_keeps_the_instant(raw: str, stored: str) -> None:
    kept = value(order(paid_at=raw), "paid_at")
    assert kept == stored
    assert isinstance(kept, str)
    sent = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    assert datetime.fromisoformat(kept) == sent  # the same instant


def test_timestamptz_ignores_local_time_patterns() -> None:
    # A TIMESTAMPTZ keeps its offset anyway; the patterns only concern TIMESTAMP columns
    layout = orders_layout(replace(ORDER_ROLES, local_time_patterns=("paid_*",)))
    assert value(order(paid_at="2024-05-01T14:34:56+02:00"), "paid_at", layout) == (
        "2024-05-01 14:34:56+02:00"
    )


@pytest.mark.parametrize(
    "raw", ["yesterday", "2024-02-30T00:00:00Z", "20240501T000000Z", "2024-W18-3", 1714566896]
)
def test_bad_timestamptz_values_are_refused(raw: Any) -> None:
    assert rejection(order(paid_at=raw)) == (
        Reason.INVALID_TIMESTAMP,
        "paid_at is not YYYY-MM-DD HH:MM:SS[.fff][+HH:MM] or ISO-8601",
    )


def test_timestamp_of_another_table_is_stored_in_utc() -> None:
    assert value(order(shipped_at="2024-05-01T14:34:56+02:00"), "shipped_at") == (
        "2024-05-01 12:34:56"
    )


# ---- CHAR: single-byte characters only ---------------------------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [("DE", "DE"), ("D", "D"), ("", ""), (42, "42")])
def test_char_takes_ascii_within_its_size(raw: Any, stored: str) -> None:
    assert value(order(country=raw), "country") == stored


@pytest.mark.parametrize("plain_body", [True, False])
def test_char_counts_its_size_on_both_paths(plain_body: bool) -> None:
    # The second body has a non-ASCII note: it takes the checked path, not the ASCII fast path
    extra = {} if plain_body else {"note": "caf\u00e9"}
    assert rejection(order(country="DEU", **extra)) == (
        Reason.VALUE_TOO_LONG,
        "country is 3 bytes in UTF-8; CHAR(2) holds 2",
    )


@pytest.mark.parametrize("raw", ["\u00c9", "\u00e9"])
def test_char_refuses_characters_that_are_not_ascii(raw: str) -> None:
    # "É" is 2 bytes: it fits CHAR(2) by size, but CHAR holds single-byte characters only
    assert rejection(order(country=raw)) == (
        Reason.NOT_SINGLE_BYTE,
        "country is CHAR(2), which holds single-byte characters only",
    )


# ---- VARCHAR of another table ------------------------------------------------------------------


@pytest.mark.parametrize("plain_body", [True, False])
def test_varchar_of_another_table_counts_bytes_on_both_paths(plain_body: bool) -> None:
    extra = {} if plain_body else {"status": "\u00e9"}
    assert value(order(note="x" * 200, **extra), "note") == "x" * 200
    assert rejection(order(note="x" * 201, **extra)) == (
        Reason.VALUE_TOO_LONG,
        "note is 201 bytes in UTF-8; VARCHAR(200) holds 200",
    )


def test_required_columns_of_another_table() -> None:
    # order_id is NOT NULL without a default; status has a default; message_id is ours
    assert rejection({"status": "paid"}) == (
        Reason.MISSING_REQUIRED_FIELD,
        "order_id is missing or empty",
    )
    assert rejection(order(order_id="  ")) == (
        Reason.MISSING_REQUIRED_FIELD,
        "order_id is missing or empty",
    )
    assert value(order(), "status") is None  # left to its DEFAULT


# ---- field names: case folding -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["Order_Id", "ORDER_ID", "order_ID"])
def test_a_field_sent_in_another_case_finds_its_column(key: str) -> None:
    assert value({key: "o-9"}, "order_id") == "o-9"


@pytest.mark.parametrize(
    "fields",
    [
        {"order_id": "o-1", "ORDER_ID": "o-2"},
        {"ORDER_ID": "o-2", "order_id": "o-1"},  # whichever comes first
        {"Order_Id": "o-1", "ORDER_ID": "o-2"},  # two foreign spellings
        {"order_id": "o-1", "Note": "a", "NOTE": "b"},
        {"order_id": "o-1", "note": None, "NOTE": "b"},  # a null does not settle which is meant
    ],
)
def test_two_fields_differing_only_in_case_are_ambiguous(fields: dict[str, Any]) -> None:
    reason, detail = rejection(fields)
    assert reason is Reason.AMBIGUOUS_FIELD
    assert detail.startswith("two fields differing only in case map to column ")
    assert "o-1" not in detail
    assert "o-2" not in detail


# ---- FIELD_MAPPING: renames and nested fields --------------------------------------------------


def mapped(*pairs: tuple[str, str], overflow: str | None = None) -> TableLayout:
    roles = replace(
        ORDER_ROLES,
        overflow_column=overflow,
        field_mapping=tuple((tuple(path.split(".")), column) for path, column in pairs),
    )
    schema = ORDERS
    if overflow is not None:
        schema = TableSchema(ORDERS.table, (*ORDERS.columns, Column(overflow, ColumnKind.SUPER)))
    return build_layout(schema, roles, "primary")


def test_a_renamed_field_fills_its_column_in_any_case() -> None:
    layout = mapped(("orderId", "order_id"))
    for key in ("orderId", "orderid", "ORDERID"):
        assert value({key: "o-3"}, "order_id", layout) == "o-3"
    reason, _ = rejection({"orderId": "o-3", "OrderID": "o-4"}, layout)
    assert reason is Reason.AMBIGUOUS_FIELD


def test_a_mapped_column_takes_its_path_first_and_its_own_field_otherwise() -> None:
    # Given order_id mapped from orderId, and the overflow column the orders table has
    layout = mapped(("orderId", "order_id"))
    index = {c.name: i for i, c in enumerate(layout.columns)}
    # When a record carries only the column's own field, it is the value
    own_only = read(order(order_id="o-3"), layout=layout)
    assert isinstance(own_only, Row)
    assert own_only.values[index["order_id"]] == "o-3"
    # When it carries both, the path wins and the other value is not stored in the column
    both = read(order(order_id="o-3", orderId="o-4"), layout=layout)
    assert isinstance(both, Row)
    assert both.values[index["order_id"]] == "o-4"
    # (this table has no overflow column: the other value is dropped and counted)
    assert both.dropped_fields == own_only.dropped_fields + 1


def test_a_nested_path_reaches_into_objects() -> None:
    layout = mapped(("customer.address.country", "country"), ("customer.number", "customer_number"))
    body = order(customer={"number": 12, "address": {"country": "FR", "city": "Lyon"}})
    outcome = read(body, layout=layout)
    assert isinstance(outcome, Row)
    index = {c.name: i for i, c in enumerate(layout.columns)}
    assert outcome.values[index["country"]] == "FR"
    assert outcome.values[index["customer_number"]] == "12"
    assert {index["country"], index["customer_number"]} <= set(outcome.present)
    # The rest of the object has no column (and this table no overflow): dropped and counted
    assert outcome.dropped_fields == 1


@pytest.mark.parametrize(
    "customer", [None, "FR", [{"address": {"country": "FR"}}], {"address": None}, {}]
)
def test_a_nested_path_that_leads_nowhere_is_an_absent_value(customer: Any) -> None:
    layout = mapped(("customer.address.country", "country"))
    outcome = read(order(customer=customer), layout=layout)
    assert isinstance(outcome, Row)
    country = [c.name for c in layout.columns].index("country")
    assert outcome.values[country] is None
    assert country not in outcome.present


def test_a_nested_value_is_checked_by_its_columns_type() -> None:
    layout = mapped(("customer.number", "customer_number"))
    assert rejection(order(customer={"number": "twelve"}), layout) == (
        Reason.INVALID_NUMBER,
        "customer_number is not an integer (ASCII digits)",
    )


def test_a_required_column_mapped_to_a_nested_path_needs_it() -> None:
    layout = mapped(("order.id", "order_id"))
    assert value({"order": {"id": "o-5"}}, "order_id", layout) == "o-5"
    assert rejection({"order": {}}, layout)[0] is Reason.MISSING_REQUIRED_FIELD


def test_with_an_overflow_column_nested_objects_are_kept_whole() -> None:
    layout = mapped(("customer.address.country", "country"), overflow="extra")
    body = order(customer={"address": {"country": "FR"}}, coupon="SPRING")
    stored = value(body, "extra", layout)
    assert isinstance(stored, str)
    assert json.loads(stored) == {"customer": {"address": {"country": "FR"}}, "coupon": "SPRING"}
    assert value(body, "country", layout) == "FR"


# ---- fields a table has no column for ----------------------------------------------------------


def test_without_an_overflow_column_fields_without_a_column_are_dropped_and_counted() -> None:
    outcome = read(order(coupon="SPRING", utm={"source": "mail"}, referrer="x"))
    assert isinstance(outcome, Row)
    assert outcome.dropped_fields == 3
    # Nothing of them reaches any column
    assert "SPRING" not in [v for v in outcome.values if isinstance(v, str)]


def test_with_an_overflow_column_nothing_is_dropped() -> None:
    layout = mapped(overflow="extra")
    outcome = read(order(coupon="SPRING", utm={"source": "mail"}), layout=layout)
    assert isinstance(outcome, Row)
    assert outcome.dropped_fields == 0
    extra = outcome.values[[c.name for c in layout.columns].index("extra")]
    assert isinstance(extra, str)
    assert json.loads(extra) == {"coupon": "SPRING", "utm": {"source": "mail"}}


def test_a_record_with_every_field_in_a_column_drops_nothing() -> None:
    outcome = read(order(note="n", quantity=1))
    assert isinstance(outcome, Row)
    assert outcome.dropped_fields == 0


def test_the_message_id_column_is_the_records_identity_not_a_payload_field() -> None:
    # Given a payload that sends a field named like the message-id column
    outcome = read(order(message_id="forged"), message_id="m-real")
    assert isinstance(outcome, Row)
    # Then the column holds the delivery's id; the field has nowhere else to go
    assert outcome.values[INDEX["message_id"]] == "m-real"
    assert outcome.dropped_fields == 1
