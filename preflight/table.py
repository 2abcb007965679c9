"""The scratch table: its name, its columns (one of each kind the function writes), its DDL.

Only identifiers validated here, or made here, enter the DDL: the schema is a flag, checked as
the function checks TARGET_TABLE; the table's name is a fixed prefix and random hex.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from calibrate.workload import validate_identifier
from ingest.config import Roles
from ingest.schema import ColumnKind

# Lower-case unquoted identifiers, as the function's TARGET_TABLE takes them (ingest/config.py).
TABLE_PREFIX = "sqs_redshift_ingest_preflight_"

MESSAGE_ID = "sqs_message_id"
OVERFLOW = "extra"
INGESTED_AT = "ingested_at"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    ddl: str  # the Redshift type and constraints, as written in CREATE TABLE
    kind: ColumnKind | None  # what the function's catalog reading must make of it


# One column of each kind the function writes, plus the roles' columns. NOT NULL where a
# refusal needs it (required_text); a DEFAULT the renderer writes as DEFAULT (with_default);
# a column the guard check re-creates with another type (guarded).
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(MESSAGE_ID, "VARCHAR(128) NOT NULL", ColumnKind.VARCHAR),
    ColumnSpec("c_varchar", "VARCHAR(16)", ColumnKind.VARCHAR),
    ColumnSpec("c_text", "VARCHAR(65535)", ColumnKind.VARCHAR),
    ColumnSpec("c_char", "CHAR(8)", ColumnKind.CHAR),
    ColumnSpec("c_smallint", "SMALLINT", ColumnKind.SMALLINT),
    ColumnSpec("c_integer", "INTEGER", ColumnKind.INTEGER),
    ColumnSpec("c_bigint", "BIGINT", ColumnKind.BIGINT),
    ColumnSpec("c_decimal", "DECIMAL(18,6)", ColumnKind.DECIMAL),
    ColumnSpec("c_real", "REAL", ColumnKind.REAL),
    ColumnSpec("c_double", "DOUBLE PRECISION", ColumnKind.DOUBLE),
    ColumnSpec("c_boolean", "BOOLEAN", ColumnKind.BOOLEAN),
    ColumnSpec("c_date", "DATE", ColumnKind.DATE),
    ColumnSpec("c_timestamp", "TIMESTAMP", ColumnKind.TIMESTAMP),
    ColumnSpec("c_timestamptz", "TIMESTAMPTZ", ColumnKind.TIMESTAMPTZ),
    ColumnSpec("c_super", "SUPER", ColumnKind.SUPER),
    ColumnSpec("required_text", "VARCHAR(32) NOT NULL", ColumnKind.VARCHAR),
    ColumnSpec("with_default", "INTEGER DEFAULT 7", ColumnKind.INTEGER),
    ColumnSpec("guarded", "VARCHAR(16)", ColumnKind.VARCHAR),
    ColumnSpec(OVERFLOW, "SUPER", ColumnKind.SUPER),
    ColumnSpec(INGESTED_AT, "TIMESTAMP DEFAULT GETDATE()", None),  # DEFAULT_COLUMNS: never sent
)
TABLE_DEFAULT = "7"  # with_default's DEFAULT, as it reads back
GUARDED_COLUMN = "guarded"
# A type the column's VARCHAR values would silently convert to, were the INSERT not guarded.
GUARDED_REPLACEMENT, GUARDED_REPLACEMENT_KIND = "INTEGER", ColumnKind.INTEGER

# The roles the function runs with on this table: its settings MESSAGE_ID_COLUMN,
# OVERFLOW_COLUMN, DEFAULT_COLUMNS, LOCAL_TIME_COLUMNS=none and SORT_KEY_COLUMN=none.
ROLES = Roles(
    message_id_column=MESSAGE_ID,
    overflow_column=OVERFLOW,
    default_columns=(INGESTED_AT,),
    local_time_patterns=(),
    sort_key_column=None,
)
# The same, as the function's environment spells them (ingest/config.py reads these).
ROLE_SETTINGS = {
    "MESSAGE_ID_COLUMN": MESSAGE_ID,
    "OVERFLOW_COLUMN": OVERFLOW,
    "DEFAULT_COLUMNS": INGESTED_AT,
    "LOCAL_TIME_COLUMNS": "none",
    "SORT_KEY_COLUMN": "none",
}


def new_run_id() -> str:
    """12 random hex digits: in the scratch table's name, its statement names and message ids."""
    return secrets.token_hex(6)


def scratch_table(schema: str, run_id: str) -> str:
    """`<schema>.sqs_redshift_ingest_preflight_<run id>`: never an existing table's name."""
    return validate_identifier(schema, "--schema") + "." + TABLE_PREFIX + run_id


def _checked(table: str) -> str:
    schema, _, name = table.partition(".")
    validate_identifier(schema, "schema")
    if not name.startswith(TABLE_PREFIX):
        raise ValueError(f"not a preflight scratch table: {table!r}")
    validate_identifier(name, "table")
    return table


def create_table_sql(table: str) -> str:
    columns = ", ".join(f"{c.name} {c.ddl}" for c in COLUMNS)
    # BACKUP NO: a scratch table has no business in the cluster's snapshots.
    return f"CREATE TABLE {_checked(table)} ({columns}) BACKUP NO"


def drop_table_sql(table: str) -> str:
    return f"DROP TABLE IF EXISTS {_checked(table)}"


def recreate_column_sqls(table: str) -> tuple[str, str]:
    """Drop the guarded column and add it back with another type (two statements: Redshift's
    ALTER TABLE takes one action at a time)."""
    checked = _checked(table)
    return (
        f"ALTER TABLE {checked} DROP COLUMN {GUARDED_COLUMN}",
        f"ALTER TABLE {checked} ADD COLUMN {GUARDED_COLUMN} {GUARDED_REPLACEMENT}",
    )
