"""A table's layout: which columns the function writes, their roles, how payload fields find
them, and the SchemaError a table that cannot take rows fails the cold start with."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ingest.config import Roles
from ingest.layout import SchemaError, TableLayout, build_layout
from ingest.schema import Column, ColumnKind, TableSchema
from local.appsflyer import INSERT_COLUMNS, appsflyer_layout, appsflyer_schema
from tests.unit.orders import ORDER_ROLES, ORDERS, orders_layout


def index_of(layout: TableLayout, name: str) -> int:
    return [c.name for c in layout.columns].index(name)


def names(layout: TableLayout, indexes: tuple[int, ...]) -> list[str]:
    return [layout.columns[i].name for i in indexes]


def table(*columns: Column, name: str = "shop.orders") -> TableSchema:
    return TableSchema(name, columns)


MESSAGE_ID = Column("message_id", ColumnKind.VARCHAR, size=128, not_null=True)


# ---- the example table with the default roles -------------------------------------------------


def test_the_example_table_writes_every_column_but_the_one_left_to_its_default() -> None:
    layout = appsflyer_layout()
    # ingested_at is in DEFAULT_COLUMNS: never written, its DEFAULT fills it
    assert [c.name for c in layout.columns] == [c.name for c in INSERT_COLUMNS]
    assert layout.columns == appsflyer_schema().columns[:-1]
    assert appsflyer_schema().columns[-1].name == "ingested_at"
    assert layout.columns[layout.message_id_index].name == "sqs_message_id"
    assert layout.overflow_index is not None
    assert layout.columns[layout.overflow_index].name == "extra"
    assert layout.sort_key_index == index_of(layout, "event_time")
    assert layout.has_default == (False,) * len(layout.columns)
    assert (layout.skipped, layout.unmapped, layout.mapped) == ((), (), ())


def test_required_and_identity_are_the_payloads_own_not_null_columns() -> None:
    layout = appsflyer_layout()
    # sqs_message_id is NOT NULL too, but the function fills it: no payload must carry it
    assert names(layout, layout.required) == ["appsflyer_id", "event_name", "event_time"]
    # A redrive naming another record's id is told apart by the required text columns
    assert names(layout, layout.identity) == ["appsflyer_id", "event_name"]


def test_local_time_columns_are_the_timestamps_matching_the_patterns() -> None:
    layout = appsflyer_layout()
    local = [c.name for c, kept in zip(layout.columns, layout.local_time, strict=True) if kept]
    assert local == [
        "event_time_selected_timezone",
        "attributed_touch_time_selected_timezone",
        "install_time_selected_timezone",
        "device_download_time_selected_timezone",
    ]
    # selected_timezone (a VARCHAR) matches no pattern, and only TIMESTAMPs could anyway
    assert not layout.local_time[index_of(layout, "selected_timezone")]


def test_fields_find_columns_by_name_but_never_the_columns_the_function_fills() -> None:
    layout = appsflyer_layout()
    assert layout.field_index["city"] == index_of(layout, "city")
    # A payload's own "sqs_message_id" or "extra" is a field like any other: kept in extra
    assert "sqs_message_id" not in layout.field_index
    assert "extra" not in layout.field_index
    assert "ingested_at" not in layout.field_index
    assert layout.folded_index == layout.field_index  # every column name is lower case


# ---- roles from settings ------------------------------------------------------------------------


def test_without_default_columns_a_column_with_a_default_is_written_and_may_take_default() -> None:
    layout = appsflyer_layout(roles=Roles(default_columns=()))
    at = index_of(layout, "ingested_at")
    assert layout.field_index["ingested_at"] == at
    assert layout.has_default[at]
    assert at not in layout.required  # NOT NULL with a default: a row may leave it out


def test_field_mapping_renames_and_reaches_into_nested_objects() -> None:
    # Given eventName mapped to event_name and device.ip to ip
    roles = Roles(field_mapping=((("eventName",), "event_name"), (("device", "ip"), "ip")))
    layout = appsflyer_layout(roles=roles)
    # Then a mapped column answers to its path first, and still to its own name
    assert layout.field_index["eventName"] == index_of(layout, "event_name")
    assert layout.field_index["event_name"] == index_of(layout, "event_name")
    assert layout.field_index["ip"] == index_of(layout, "ip")
    assert layout.mapped == (
        (("eventName",), index_of(layout, "event_name"), "event_name"),
        (("device", "ip"), index_of(layout, "ip"), "ip"),
    )
    # Folding finds a mixed-case path sent in another case
    assert layout.folded_index["eventname"] == index_of(layout, "event_name")
    # A mapped column stays required: the path must bring its value
    assert index_of(layout, "event_name") in layout.required


def test_a_mapping_to_a_column_this_table_lacks_is_noted_not_an_error() -> None:
    roles = Roles(field_mapping=((("coupon",), "coupon_code"), (("eventName",), "event_name")))
    layout = appsflyer_layout(roles=roles)
    assert layout.unmapped == ("coupon_code",)
    assert "coupon" not in layout.field_index


@pytest.mark.parametrize(
    "order",
    [("region", "city"), ("city", "region")],
)
def test_a_mapped_path_wins_over_a_column_of_the_same_name_in_any_table_order(
    order: tuple[str, str],
) -> None:
    # Given the payload's "city" mapped to column region, in a table that also has a city
    columns = tuple(Column(n, ColumnKind.VARCHAR, size=50) for n in order)
    roles = replace(ORDER_ROLES, field_mapping=((("city",), "region"),))
    layout = build_layout(table(*columns, MESSAGE_ID), roles, "primary")
    # Then "city" goes to region whatever the order of the table's columns
    assert layout.field_index["city"] == index_of(layout, "region")


def test_mixed_case_keys_of_one_column_fold_to_it() -> None:
    roles = replace(ORDER_ROLES, field_mapping=((("orderId",), "order_id"),))
    layout = orders_layout(roles)
    assert layout.folded_index["orderid"] == index_of(layout, "order_id")
    assert layout.folded_index["note"] == index_of(layout, "note")
    assert set(layout.folded_index) == {key.lower() for key in layout.field_index}


def test_no_overflow_column_when_the_setting_is_none_or_the_table_lacks_it() -> None:
    assert appsflyer_layout(roles=Roles(overflow_column=None)).overflow_index is None
    layout = orders_layout(replace(ORDER_ROLES, overflow_column="extra"))  # orders has none
    assert layout.overflow_index is None


def test_the_overflow_column_is_never_a_payload_field_nor_required() -> None:
    schema = table(
        MESSAGE_ID,
        Column("order_id", ColumnKind.VARCHAR, size=64, not_null=True),
        Column("payload", ColumnKind.SUPER),
    )
    layout = build_layout(schema, replace(ORDER_ROLES, overflow_column="payload"), "primary")
    assert layout.overflow_index == index_of(layout, "payload")
    assert "payload" not in layout.field_index
    assert names(layout, layout.required) == ["order_id"]


@pytest.mark.parametrize(
    ("sort_key", "kind", "narrows"),
    [
        ("ordered_at", ColumnKind.TIMESTAMP, True),
        ("ordered_at", ColumnKind.DATE, False),
        ("ordered_at", ColumnKind.TIMESTAMPTZ, False),
        ("ordered_at", ColumnKind.VARCHAR, False),
        ("missing", ColumnKind.TIMESTAMP, False),
        (None, ColumnKind.TIMESTAMP, False),
    ],
)
def test_the_sort_key_narrows_look_ups_only_when_it_is_a_timestamp_column(
    sort_key: str | None, kind: ColumnKind, narrows: bool
) -> None:
    # The look-up window is a TIMESTAMP range; otherwise records are looked up by id alone
    schema = table(MESSAGE_ID, Column("ordered_at", kind, size=30))
    layout = build_layout(schema, replace(ORDER_ROLES, sort_key_column=sort_key), "primary")
    assert layout.sort_key_index == (1 if narrows else None)


def test_local_time_applies_to_timestamp_columns_only() -> None:
    schema = table(
        MESSAGE_ID,
        Column("paid_local", ColumnKind.TIMESTAMP),
        Column("shipped_local", ColumnKind.TIMESTAMPTZ),  # keeps its offset anyway
        Column("note_local", ColumnKind.VARCHAR, size=10),
        Column("paid_at", ColumnKind.TIMESTAMP),
    )
    layout = build_layout(schema, replace(ORDER_ROLES, local_time_patterns=("*_local",)), "p")
    assert layout.local_time == (False, True, False, False, False)


# ---- required, identity ------------------------------------------------------------------------


def test_required_is_not_null_without_a_default_and_identity_its_varchar_columns() -> None:
    layout = orders_layout()
    # status is NOT NULL with a default; message_id is filled by the function
    assert names(layout, layout.required) == ["order_id"]
    assert names(layout, layout.identity) == ["order_id"]
    assert layout.has_default[index_of(layout, "status")]
    assert layout.has_default[index_of(layout, "line_count")]


def test_identity_leaves_out_char_and_typed_required_columns() -> None:
    # CHAR values come back blank-padded; an INTEGER is not text to compare
    schema = table(
        MESSAGE_ID,
        Column("country", ColumnKind.CHAR, size=2, not_null=True),
        Column("quantity", ColumnKind.INTEGER, not_null=True),
        Column("sku", ColumnKind.VARCHAR, size=20, not_null=True),
    )
    layout = build_layout(schema, ORDER_ROLES, "primary")
    assert names(layout, layout.required) == ["country", "quantity", "sku"]
    assert names(layout, layout.identity) == ["sku"]


# ---- types the function cannot write -----------------------------------------------------------


def test_a_nullable_column_of_an_unsupported_type_is_skipped() -> None:
    shape = Column("shape", ColumnKind.UNSUPPORTED, type_text="geometry")
    stamp = Column("at_time", ColumnKind.UNSUPPORTED, not_null=True, has_default=True)
    layout = build_layout(table(MESSAGE_ID, shape, stamp), ORDER_ROLES, "primary")
    # Left out of every INSERT (always NULL, or its DEFAULT) and of every field lookup
    assert [c.name for c in layout.columns] == ["message_id"]
    assert layout.skipped == (shape, stamp)
    assert "shape" not in layout.field_index


def test_a_not_null_column_of_an_unsupported_type_fails_naming_table_column_and_type() -> None:
    shape = Column("shape", ColumnKind.UNSUPPORTED, not_null=True, type_text="geometry")
    with pytest.raises(SchemaError) as raised:
        build_layout(table(MESSAGE_ID, shape), ORDER_ROLES, "secondary")
    message = str(raised.value)
    assert message.startswith("table shop.orders in target secondary: column shape has type ")
    assert "geometry" in message
    assert "NOT NULL without a default" in message


# ---- SchemaError: the table cannot take rows as configured --------------------------------------


@pytest.mark.parametrize(
    ("schema", "roles", "expected"),
    [
        (
            table(),
            ORDER_ROLES,
            "table shop.orders in target primary has no columns the function can see: check "
            "TARGET_TABLE and that the database user may read it",
        ),
        (
            table(Column("order_id", ColumnKind.VARCHAR, size=64)),
            ORDER_ROLES,
            "table shop.orders in target primary: MESSAGE_ID_COLUMN message_id has no such "
            "column; it needs a VARCHAR of at least 36 bytes",
        ),
        (
            table(Column("message_id", ColumnKind.BIGINT)),
            ORDER_ROLES,
            "table shop.orders in target primary: MESSAGE_ID_COLUMN message_id is BIGINT; it "
            "needs a VARCHAR",
        ),
        (
            table(MESSAGE_ID, Column("attributes", ColumnKind.VARCHAR, size=100)),
            replace(ORDER_ROLES, overflow_column="attributes"),
            "table shop.orders in target primary: OVERFLOW_COLUMN attributes is VARCHAR(100); it "
            "must be a nullable SUPER (or set OVERFLOW_COLUMN=none)",
        ),
        (
            table(MESSAGE_ID, Column("loaded_at", ColumnKind.TIMESTAMP, not_null=True)),
            replace(ORDER_ROLES, default_columns=("loaded_at",)),
            "table shop.orders in target primary: DEFAULT_COLUMNS names loaded_at, which is NOT "
            "NULL without a default: every INSERT would fail",
        ),
    ],
)
def test_schema_errors_name_the_table_the_target_the_column_and_the_setting(
    schema: TableSchema, roles: Roles, expected: str
) -> None:
    with pytest.raises(SchemaError) as raised:
        build_layout(schema, roles, "primary")
    assert str(raised.value).startswith(expected)


def test_default_columns_may_name_columns_the_table_lacks_or_that_have_a_default() -> None:
    schema = table(
        MESSAGE_ID, Column("loaded_at", ColumnKind.TIMESTAMP, not_null=True, has_default=True)
    )
    roles = replace(ORDER_ROLES, default_columns=("loaded_at", "not_there"))
    assert [c.name for c in build_layout(schema, roles, "primary").columns] == ["message_id"]


def test_a_char_message_id_column_is_refused() -> None:
    schema = table(Column("message_id", ColumnKind.CHAR, size=128, not_null=True))
    with pytest.raises(SchemaError, match="MESSAGE_ID_COLUMN message_id is CHAR"):
        build_layout(schema, ORDER_ROLES, "primary")


def test_a_message_id_column_too_narrow_for_an_sqs_message_id_is_refused() -> None:
    schema = table(Column("message_id", ColumnKind.VARCHAR, size=16, not_null=True))
    with pytest.raises(SchemaError, match="MESSAGE_ID_COLUMN message_id"):
        build_layout(schema, ORDER_ROLES, "primary")


def test_an_overflow_column_that_is_not_null_without_a_default_is_refused() -> None:
    schema = table(MESSAGE_ID, Column("extra", ColumnKind.SUPER, not_null=True))
    with pytest.raises(SchemaError, match="OVERFLOW_COLUMN extra"):
        build_layout(schema, replace(ORDER_ROLES, overflow_column="extra"), "primary")


def test_the_orders_table_takes_every_type_the_function_writes() -> None:
    layout = orders_layout()
    assert layout.columns == ORDERS.columns  # nothing skipped, nothing left to a default
    assert {c.kind for c in layout.columns} == set(ColumnKind) - {ColumnKind.UNSUPPORTED}
