"""ALTER TABLE through the Data API as Redshift allows it, and the errors a changed table gives.

The function reads a table's columns once and may then write to a table that changed: these are
the answers it gets (issue 11, item 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from local import redshift_ddl
from tests.emulator.helpers import (
    CLUSTER,
    TERMINAL,
    Expected,
    assert_error,
    params,
    run,
    wait_for,
)
from tests.emulator.test_local_catalog import catalog, failure, ok

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

pytestmark = pytest.mark.integration

BASE = "CREATE TABLE public.orders (order_id VARCHAR(64) NOT NULL, amount DECIMAL(12,2))"


def too_long(size: str) -> Expected:
    """Redshift's value-too-long error for `character <size>`, e.g. too_long("varying(3)")."""
    return (
        "ERROR: Value too long for character type",
        "8001",
        f"Value too long for type character {size}".replace("character (", "character("),
    )


@pytest.fixture
def orders(redshift_data: RedshiftDataAPIServiceClient) -> RedshiftDataAPIServiceClient:
    """public.orders with one row, created through the Data API."""
    ok(redshift_data, BASE)
    ok(redshift_data, "INSERT INTO public.orders VALUES ('o-1', 19.90)")
    return redshift_data


# ---- ADD COLUMN ----------------------------------------------------------------------------


def test_added_columns_join_the_catalog_in_order(orders: RedshiftDataAPIServiceClient) -> None:
    for ddl in (
        "ALTER TABLE public.orders ADD COLUMN note VARCHAR(20)",
        "ALTER TABLE public.orders ADD quantity INTEGER DEFAULT 5",
        "ALTER TABLE public.orders ADD COLUMN status VARCHAR(8) DEFAULT 'none' NOT NULL",
        "ALTER TABLE public.orders ADD COLUMN seen_at TIMESTAMP NOT NULL DEFAULT GETDATE()",
        "ALTER TABLE public.orders ADD COLUMN attributes SUPER",
        "ALTER TABLE public.orders ADD COLUMN currency CHAR(3) ENCODE zstd",
        "ALTER TABLE public.orders ADD COLUMN total DECIMAL NULL",
    ):
        ok(orders, ddl)
    assert catalog(orders, "orders") == [
        ("order_id", "character varying(64)", True, False),
        ("amount", "numeric(12,2)", False, False),
        ("note", "character varying(20)", False, False),
        ("quantity", "integer", False, True),
        ("status", "character varying(8)", True, True),
        ("seen_at", "timestamp without time zone", True, True),
        ("attributes", "super", False, False),
        ("currency", "character(3)", False, False),
        ("total", "numeric(18,0)", False, False),
    ]
    # The row that was there gets the defaults.
    described = run(orders, "SELECT quantity, status, seen_at IS NOT NULL FROM public.orders")
    assert orders.get_statement_result(Id=described["Id"])["Records"] == [
        [{"longValue": 5}, {"stringValue": "none"}, {"booleanValue": True}]
    ]


def test_an_added_column_keeps_redshifts_rules(orders: RedshiftDataAPIServiceClient) -> None:
    ok(orders, "ALTER TABLE public.orders ADD COLUMN note VARCHAR(4)")
    ok(orders, "ALTER TABLE public.orders ADD COLUMN currency CHAR(3)")
    insert = "INSERT INTO public.orders (order_id, note, currency) VALUES ('o-2', :note, :cur)"
    assert_error(  # 6 bytes
        failure(orders, insert, Parameters=params(note="ééé", cur="EUR")), too_long("varying(4)")
    )
    assert failure(orders, insert, Parameters=params(note="ok", cur="€")).startswith(
        "ERROR: Invalid characters:"
    )
    ok(orders, insert, Parameters=params(note="éé", cur="EUR"))


@pytest.mark.parametrize(
    ("ddl", "error"),
    [
        ("ALTER TABLE public.orders ADD COLUMN c INT NOT NULL", redshift_ddl.ADD_NOT_NULL_REFUSED),
        (
            "ALTER TABLE public.orders ADD COLUMN c INT DEFAULT NULL NOT NULL",
            redshift_ddl.ADD_NOT_NULL_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ADD COLUMN c BIGINT IDENTITY(1, 1)",
            redshift_ddl.ADD_IDENTITY_REFUSED,
        ),
        ("ALTER TABLE public.orders ADD COLUMN c INT UNIQUE", redshift_ddl.ADD_KEY_REFUSED),
        ("ALTER TABLE public.orders ADD COLUMN c INT PRIMARY KEY", redshift_ddl.ADD_KEY_REFUSED),
        (
            "ALTER TABLE public.orders ADD COLUMN c INT, ADD COLUMN d INT",
            redshift_ddl.ONE_ACTION_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN amount SET DEFAULT 0",
            redshift_ddl.SET_DEFAULT_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN amount DROP DEFAULT",
            redshift_ddl.SET_DEFAULT_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN amount SET NOT NULL",
            redshift_ddl.SET_NOT_NULL_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN order_id DROP NOT NULL",
            redshift_ddl.DROP_NOT_NULL_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN amount TYPE DECIMAL(14,2)",
            redshift_ddl.TYPE_REFUSED,
        ),
        (
            "ALTER TABLE public.orders ALTER COLUMN order_id TYPE VARCHAR(80) USING order_id",
            redshift_ddl.USING_REFUSED,
        ),
    ],
)
def test_alter_table_refuses_what_redshift_refuses(
    orders: RedshiftDataAPIServiceClient, ddl: str, error: str
) -> None:
    before = catalog(orders, "orders")
    assert failure(orders, ddl) == error
    assert catalog(orders, "orders") == before


def test_a_column_added_inside_a_batch_is_written_in_the_same_transaction(
    orders: RedshiftDataAPIServiceClient,
) -> None:
    response = orders.batch_execute_statement(
        Sqls=[
            "ALTER TABLE public.orders ADD COLUMN channel VARCHAR(10)",
            "INSERT INTO public.orders (order_id, channel) VALUES (:id, :channel)",
        ],
        Parameters=params(id="o-2", channel="web"),
        **CLUSTER,
    )
    assert wait_for(orders, response["Id"], TERMINAL)["Status"] == "FINISHED"
    assert catalog(orders, "orders")[-1] == ("channel", "character varying(10)", False, False)


# ---- DROP COLUMN ---------------------------------------------------------------------------


def test_a_dropped_column_leaves_the_catalog(orders: RedshiftDataAPIServiceClient) -> None:
    ok(orders, "ALTER TABLE public.orders ADD COLUMN note VARCHAR(20)")
    ok(orders, "ALTER TABLE public.orders ADD COLUMN quantity INTEGER")
    ok(orders, "ALTER TABLE public.orders DROP COLUMN note")
    assert catalog(orders, "orders") == [
        ("order_id", "character varying(64)", True, False),
        ("amount", "numeric(12,2)", False, False),
        ("quantity", "integer", False, False),
    ]
    # The same name added again is a new column, at the end, with its new type.
    ok(orders, "ALTER TABLE public.orders ADD COLUMN note SMALLINT")
    assert catalog(orders, "orders")[-1] == ("note", "smallint", False, False)


# ---- what a changed table answers ----------------------------------------------------------

# PostgreSQL's words, which Redshift's parser keeps (no AWS page shows them: unverified).
MISSING_COLUMN = 'ERROR: column "{column}" of relation "orders" does not exist'


def test_writing_a_column_that_does_not_exist(orders: RedshiftDataAPIServiceClient) -> None:
    insert = "INSERT INTO public.orders (order_id, note) VALUES (:id, :note)"
    values = params(id="o-2", note="x")
    assert failure(orders, insert, Parameters=values) == MISSING_COLUMN.format(column="note")
    ok(orders, "ALTER TABLE public.orders ADD COLUMN note VARCHAR(20)")
    ok(orders, insert, Parameters=values)
    ok(orders, "ALTER TABLE public.orders DROP COLUMN note")
    assert failure(orders, insert, Parameters=values) == MISSING_COLUMN.format(column="note")


def test_a_multi_row_insert_with_a_dropped_column_writes_nothing(
    orders: RedshiftDataAPIServiceClient,
) -> None:
    ok(orders, "ALTER TABLE public.orders ADD COLUMN note VARCHAR(20)")
    ok(orders, "ALTER TABLE public.orders DROP COLUMN note")
    insert = "INSERT INTO public.orders (order_id, note) VALUES (:a, :n), (:b, :n)"
    assert failure(orders, insert, Parameters=params(a="o-2", b="o-3", n="x")) == (
        MISSING_COLUMN.format(column="note")
    )
    described = run(orders, "SELECT count(*) FROM public.orders")
    assert orders.get_statement_result(Id=described["Id"])["Records"] == [[{"longValue": 1}]]


def test_varchar_sizes_change_and_the_byte_limit_follows(
    orders: RedshiftDataAPIServiceClient,
) -> None:
    insert = "INSERT INTO public.orders (order_id) VALUES (:id)"
    long_id = "é" * 40  # 40 characters, 80 bytes
    assert_error(failure(orders, insert, Parameters=params(id=long_id)), too_long("varying(64)"))
    ok(orders, "ALTER TABLE public.orders ALTER COLUMN order_id TYPE VARCHAR(80)")
    assert catalog(orders, "orders")[0] == ("order_id", "character varying(80)", True, False)
    ok(orders, insert, Parameters=params(id=long_id))
    # Smaller again, but not below what the column holds.
    assert_error(
        failure(orders, "ALTER TABLE public.orders ALTER COLUMN order_id TYPE VARCHAR(79)"),
        too_long("varying(79)"),
    )
    ok(orders, "DELETE FROM public.orders WHERE order_id = :id", Parameters=params(id=long_id))
    ok(orders, "ALTER TABLE public.orders ALTER COLUMN order_id TYPE VARCHAR(3)")
    assert_error(failure(orders, insert, Parameters=params(id="o-22")), too_long("varying(3)"))
    assert_error(  # 2 characters, 4 bytes
        failure(orders, insert, Parameters=params(id="éé")), too_long("varying(3)")
    )
    ok(orders, insert, Parameters=params(id="o-2"))


def test_a_varchar_with_a_default_cannot_shrink(orders: RedshiftDataAPIServiceClient) -> None:
    ok(orders, "ALTER TABLE public.orders ADD COLUMN status VARCHAR(10) DEFAULT 'new'")
    assert failure(orders, "ALTER TABLE public.orders ALTER COLUMN status TYPE VARCHAR(5)") == (
        "ERROR: cannot decrease a VARCHAR column size with default value"
    )
    ok(orders, "ALTER TABLE public.orders ALTER COLUMN status TYPE VARCHAR(20)")
    assert catalog(orders, "orders")[-1] == ("status", "character varying(20)", False, True)


def test_only_a_varchar_changes_type(orders: RedshiftDataAPIServiceClient) -> None:
    assert failure(orders, "ALTER TABLE public.orders ALTER COLUMN amount TYPE VARCHAR(20)") == (
        redshift_ddl.TYPE_REFUSED
    )
    assert failure(orders, "ALTER TABLE public.orders ALTER COLUMN nope TYPE VARCHAR(20)") == (
        MISSING_COLUMN.format(column="nope")
    )


@pytest.mark.parametrize(
    ("new_type", "value_sql", "value", "error"),
    [
        # The function renders a value for the type it read; the column changed since.
        ("SMALLINT", "CAST(:v AS INTEGER)", "40000", "ERROR: smallint out of range"),
        (
            "DECIMAL(6,2)",
            "CAST(:v AS DECIMAL(12,2))",
            "123456.78",
            ("ERROR: Numeric data overflow (result precision)", "1058", "64 bit overflow"),
        ),
        ("VARCHAR(3)", ":v", "abcd", too_long("varying(3)")),
        ("CHAR(2)", ":v", "abc", too_long("(2)")),
        (
            "BOOLEAN",
            "CAST(:v AS INTEGER)",
            "1",
            # PostgreSQL's words (unverified for Redshift).
            'ERROR: column "changed" is of type boolean but expression is of type integer',
        ),
    ],
)
def test_a_value_that_no_longer_fits_a_changed_type(
    orders: RedshiftDataAPIServiceClient,
    new_type: str,
    value_sql: str,
    value: str,
    error: Expected,
) -> None:
    # Redshift changes no type but a VARCHAR's size: a new type is a column dropped and added.
    ok(orders, "ALTER TABLE public.orders ADD COLUMN changed VARCHAR(100)")
    ok(orders, "ALTER TABLE public.orders DROP COLUMN changed")
    ok(orders, f"ALTER TABLE public.orders ADD COLUMN changed {new_type}")
    insert = f"INSERT INTO public.orders (order_id, changed) VALUES ('o-2', {value_sql})"
    assert_error(failure(orders, insert, Parameters=params(v=value)), error)
