"""Two SQLs that open a transaction carrying records a target may already hold: the table is
locked, then checked for those records, so a concurrent writer of the same record cannot slip
in between the presence look-up and the commit.

Why: the look-up (presence.py) runs before the write, in its own statement. Two invocations
redriving two letters of one record (a dead-letter send whose reply was lost sends a second
letter), or SQS handing one message to two invocations, would both find nothing and both
write. Redshift's default isolation for new clusters and workgroups is SNAPSHOT, under which
two transactions appending different rows do not conflict ("Isolation levels in Amazon
Redshift", docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation.html), so neither would
be refused. `LOCK` takes the table in ACCESS EXCLUSIVE mode and waits for any conflicting lock
(docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html); a transaction's snapshot is created at its
first SELECT or DML statement, and LOCK is not one of them (the isolation page lists them), so
the check that follows sees every transaction that committed while this one waited. The check
divides by zero when any of the records is there: nothing commits, and the writer asks the
target again which rows it holds (writer.py).

Cost: the lock also makes readers of the table wait until this transaction commits (about one
statement's time), so only transactions carrying redelivered or redriven records take it; a
first delivery never does.

Unverified on Redshift: which privilege LOCK needs (PostgreSQL asks for UPDATE, DELETE or
TRUNCATE on the table; Redshift's page names none). `make preflight` runs it on the user's
target. Fallback: a LOCK that fails on a target is dropped for the container's life, with a
warning (writer.py); the check alone still refuses a record that committed before it ran.

The check reads each record's id through the parameter its INSERT already sends for the
message-id column, so it adds no parameter: only the sort-key window's two, when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.layout import TableLayout
from ingest.limits import REQUEST_BYTES_PER_PARAMETER, REQUEST_BYTES_PER_SQL, STATEMENT_BYTES
from ingest.names import CLAIM_WINDOW, parameter_name
from ingest.records import Row
from ingest.schema import qualified_name, quote_identifier
from ingest.sort_window import sort_key_window

# SQLs a claim puts before a transaction's column guard and INSERTs: the LOCK and the check.
CLAIM_SQLS = 2
# What one record adds to the check's SQL: `:p000,` (parameter names are four characters).
CHECK_BYTES_PER_RECORD = 6
# The check's SQL without its ids, the LOCK, the window's parameter entries and their JSON:
# an allowance well above what the longest table name and timestamp take.
CLAIM_FIXED_BYTES = 2_048


# How every check's SQL opens (the column guard's opens otherwise: column_guard.py).
CHECK_SQL_START = "SELECT 1 / CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END FROM "


class ClaimTooLarge(ValueError):
    """The check would name more records than one statement may carry."""


@dataclass(frozen=True)
class Claim:
    lock_sql: str | None  # None once the target refused LOCK (writer.py)
    check_sql: str
    parameters: tuple[tuple[str, str], ...]  # the sort-key window's, if any

    @property
    def sqls(self) -> tuple[str, ...]:
        return (self.check_sql,) if self.lock_sql is None else (self.lock_sql, self.check_sql)

    @property
    def request_bytes(self) -> int:
        return sum(len(sql.encode("utf-8")) + REQUEST_BYTES_PER_SQL for sql in self.sqls) + sum(
            len(n) + len(v) + REQUEST_BYTES_PER_PARAMETER for n, v in self.parameters
        )


def claim_reserve(records: int) -> int:
    """Request bytes to keep free for the claim of a transaction of up to `records` records."""
    return CLAIM_FIXED_BYTES + CHECK_BYTES_PER_RECORD * records


def claim(
    layout: TableLayout,
    rows: Sequence[Row],
    id_parameters: Sequence[str],
    *,
    lock: bool,
) -> Claim:
    """The claim of `rows`, whose ids travel as the parameters named `id_parameters`."""
    table = qualified_name(layout.table)
    columns = layout.columns
    id_column = quote_identifier(columns[layout.message_id_index].name)
    where = f"{id_column} IN ({','.join(f':{name}' for name in id_parameters)})"
    parameters: tuple[tuple[str, str], ...] = ()
    window = sort_key_window(rows, layout.sort_key_index)
    if window is not None and layout.sort_key_index is not None:
        sort_column = quote_identifier(columns[layout.sort_key_index].name)
        low, high = parameter_name(0, CLAIM_WINDOW), parameter_name(1, CLAIM_WINDOW)
        where = (
            f"{sort_column} BETWEEN CAST(:{low} AS TIMESTAMP) AND CAST(:{high} AS TIMESTAMP) "
            f"AND {where}"
        )
        parameters = ((low, window[0]), (high, window[1]))
    # Identifiers come from configuration and the catalog; the values are parameters.
    check = f"SELECT 1 / CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END FROM {table} WHERE {where}"  # noqa: S608
    if len(check.encode("utf-8")) + sum(len(n) + len(v) for n, v in parameters) > STATEMENT_BYTES:
        raise ClaimTooLarge(f"a claim of {len(rows)} records exceeds one statement")
    return Claim(f"LOCK {table}" if lock else None, check, parameters)
