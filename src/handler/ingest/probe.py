"""The control statement: the INSERT's own shape, on known-good values, rolled back.

When a row fails alone, the writer needs evidence that the failure is the row's and not the
target's. A statement that binds nothing (SELECT 1 FROM t WHERE 1 = 0) misses every failure
that hits all parameterised INSERTs (parameter binding, a cast or JSON_PARSE that the target
refuses whatever the value, a DEFAULT that fails). So the probe is a one-row INSERT rendered
by the same renderer, with a known-good value for every column (DEFAULT where the table has
one), followed in the same transaction by a SELECT that always fails: the INSERT runs exactly
as a row's would and is rolled back with the transaction, leaving no row behind. It passes
when the service reports the failure at the second SQL (the INSERT ran); any other end
(the INSERT failed, or the service did not say which SQL failed) is no evidence.
"""

from __future__ import annotations

from dataclasses import replace

from ingest.layout import TableLayout
from ingest.limits import STATEMENT_BYTES
from ingest.records import Row, SqlValue
from ingest.schema import ColumnKind
from ingest.sql import InsertRenderer

# Fails in PostgreSQL ("division by zero"); that Redshift fails it too is unverified (no public
# text), and `make preflight` checks it on the user's target. Fallback: if it ever FINISHED, the
# probe is no evidence (and an error is logged, since its row may then be kept). Which SQL failed
# comes from DescribeStatement's SubStatements (the Data API reference); without them, no
# evidence either, and the record ends in the function's last-receive letter.
ROLLBACK_SQL = "SELECT 1 / 0"
# The probe row's message id: never an SQS message id, so an operator can find one if a target
# ever kept it (the rollback makes that impossible unless the failing SELECT succeeded).
PROBE_MESSAGE_ID = "sqs-redshift-ingest-probe"

_KNOWN_GOOD: dict[ColumnKind, SqlValue] = {
    ColumnKind.VARCHAR: "0",
    ColumnKind.CHAR: "0",
    ColumnKind.SMALLINT: "0",
    ColumnKind.INTEGER: "0",
    ColumnKind.BIGINT: "0",
    ColumnKind.DECIMAL: "0",
    ColumnKind.REAL: "0",
    ColumnKind.DOUBLE: "0",
    ColumnKind.BOOLEAN: True,
    ColumnKind.DATE: "2000-01-01",
    ColumnKind.TIMESTAMP: "2000-01-01 00:00:00",
    ColumnKind.TIMESTAMPTZ: "2000-01-01 00:00:00+00:00",
    ColumnKind.SUPER: "{}",
}


def probe_row(layout: TableLayout) -> Row:
    """A row every column of `layout` takes: DEFAULT where the table has one, else a value."""
    values: list[SqlValue] = []
    for index, column in enumerate(layout.columns):
        if index == layout.message_id_index:
            values.append(PROBE_MESSAGE_ID)
        elif layout.has_default[index]:
            values.append(None)  # rendered as DEFAULT
        else:
            values.append(_KNOWN_GOOD.get(column.kind, "0"))
    return Row(
        message_id=PROBE_MESSAGE_ID,
        receive_count=1,
        values=tuple(values),
        present=tuple(range(len(values))),
        record_id=PROBE_MESSAGE_ID,
    )


def probe_sqls(
    renderer: InsertRenderer,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    """The probe transaction's SQLs and parameters: the INSERT, then the failing SELECT.
    None when even the probe row exceeds 100 KB (no evidence can be had)."""
    # The same wrappers, but not the function's own size budget: a row of known-good values
    # for every column may exceed a small STATEMENT_MAX_BYTES while the service takes 100 KB.
    limits = replace(
        renderer.limits,
        max_bytes=max(renderer.limits.max_bytes, STATEMENT_BYTES),
        max_request_bytes=None,
        guarded=False,
    )
    rendering = InsertRenderer(renderer.layout, limits).render([probe_row(renderer.layout)])
    if not rendering.statements:
        return None
    insert = rendering.statements[0]
    return (insert.sql, ROLLBACK_SQL), insert.parameters


def probe_passed(failed_part: int | None) -> bool:
    """The transaction failed at its second SQL: the INSERT before it ran."""
    return failed_part == 1
