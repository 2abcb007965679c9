"""A transaction's first SQL: it fails unless every column written still has the type it had
when the function read the table.

Why: an INSERT casts each value to the type the column had when its layout was read. If the
column is dropped and added again with another type (a DECIMAL with fewer places, a DATE for a
TIMESTAMP), the database converts the cast value on assignment, rounding or truncating it
without an error (4.995 stored as 5.00, a timestamp stored as its date), until the next
catalog read. Riding inside the same transaction, the guard sees the table as the INSERTs
will: a changed column fails the guard, nothing commits, and the writer reads the table again
(writer.py). It costs no round trip: one leader-node catalog SELECT per transaction.

Unverified on Redshift: that this catalog SELECT (leader-node tables, `||` on a name, a
division in the select list) runs inside a BatchExecuteStatement beside INSERTs; `make
preflight` checks it on the user's target. Fallback: a guard that fails while the catalog says
the table is unchanged, in its transaction and then asked alone, is dropped for the target
(writer.py), so a guard that cannot run never stops the writes; one that passes alone is kept.

It reads the same catalog as catalog.py (pg_attribute, pg_class, pg_namespace, format_type),
and compares each column's "name type" as format_type prints it with what the layout was
built from. A mismatch makes the SELECT divide by zero; the writer recognises the guard by its
position (the first SQL), never by the error's wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.layout import TableLayout
from ingest.limits import REQUEST_BYTES_PER_PARAMETER, REQUEST_BYTES_PER_SQL
from ingest.names import GUARD, parameter_name


@dataclass(frozen=True)
class ColumnGuard:
    sql: str
    parameters: tuple[tuple[str, str], ...]

    @property
    def request_bytes(self) -> int:
        return (
            len(self.sql.encode("utf-8"))
            + REQUEST_BYTES_PER_SQL
            + sum(
                # Names and types come from the catalog: JSON may escape them (x6 at most).
                len(n) + 6 * len(v.encode("utf-8")) + REQUEST_BYTES_PER_PARAMETER
                for n, v in self.parameters
            )
        )


def column_guard(layout: TableLayout) -> ColumnGuard:
    """The guard for the columns `layout` writes (identifiers and types as values)."""
    schema_name, table_name = layout.table.split(".")
    expected = [f"{column.name} {column.type_text}" for column in layout.columns]
    names = [parameter_name(n, GUARD) for n in range(len(expected) + 3)]
    count, schema, table, *columns = names
    placeholders = ",".join(f":{name}" for name in columns)
    # Only parameter names we generate are formatted in: every value is a parameter.
    sql = (
        f"SELECT 1 / CASE WHEN COUNT(*) = CAST(:{count} AS INTEGER) THEN 1 ELSE 0 END "  # noqa: S608
        "FROM pg_catalog.pg_attribute AS a "
        "JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = :{schema} AND c.relname = :{table} "
        "AND a.attnum > 0 AND NOT a.attisdropped "
        f"AND a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) "
        f"IN ({placeholders})"
    )
    values = [str(len(expected)), schema_name, table_name, *expected]
    return ColumnGuard(sql, tuple(zip(names, values, strict=True)))
