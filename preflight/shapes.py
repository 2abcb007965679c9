"""The statement shapes the function sends, each rendered by the function's own renderer from
rows its own reader made, sent through its runner, and read back.

A shape is OK when it FINISHED and every value sent reads back as sent; the probe and the
column guard are OK when they fail where the writer expects them to (its failed part), leaving
no row behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from ingest.catalog import read_schema
from ingest.layout import SchemaError, build_layout
from ingest.names import GUARD, INSERT_VALUE
from ingest.probe import PROBE_MESSAGE_ID, probe_passed, probe_sqls
from ingest.records import Row
from ingest.schema import TableSchema
from ingest.sql import Transaction
from preflight import readback
from preflight.context import (
    Check,
    CheckResult,
    Context,
    failed,
    finished,
    plural,
    said,
)
from preflight.rows import EVERY_KIND_BODY, SHORT_BODY, filler, message_id, read_row, read_rows
from preflight.table import (
    COLUMNS,
    GUARDED_COLUMN,
    GUARDED_REPLACEMENT,
    GUARDED_REPLACEMENT_KIND,
    INGESTED_AT,
    ROLES,
    TABLE_DEFAULT,
    recreate_column_sqls,
)

PREFIX_FREE_PARAMETERS = 1_400  # past p0zz: names that differ in each of their three digits
SHORT_ROW_BYTES = 250  # about what a row of SHORT_BODY adds to an INSERT, at least


def catalog(ctx: Context) -> CheckResult:
    """The table as the function's catalog query reads it, and the layout built from it."""
    name = "catalog read"
    schema, stats = read_schema(ctx.runner, ctx.target, ctx.settings.table, ctx.deadlines())
    ctx.statements += stats.submitted
    wrong = _misread(schema)
    if wrong:
        return CheckResult(name, "FINISHED", "misread: " + ", ".join(wrong), ok=False)
    try:
        ctx.layout = build_layout(schema, ROLES, ctx.target.name)
    except SchemaError as error:
        return CheckResult(name, "FINISHED", f"unusable: {error}", ok=False)
    written = len(ctx.layout.columns)
    concluded = f"{len(schema.columns)} columns as declared, {written} written"
    return CheckResult(name, "FINISHED", concluded, ok=True)


def _misread(schema: TableSchema) -> list[str]:
    wrong = []
    for spec in COLUMNS:
        column = schema.column(spec.name)
        if column is None:
            wrong.append(f"{spec.name} missing")
        elif spec.kind is not None and column.kind is not spec.kind:
            wrong.append(f"{spec.name} read as {column.kind.value}")
        elif ("NOT NULL" in spec.ddl) != column.not_null:
            wrong.append(f"{spec.name} nullability")
        elif ("DEFAULT" in spec.ddl) != column.has_default:
            wrong.append(f"{spec.name} default")
    return wrong


def _single(transactions: Sequence[Transaction]) -> Transaction:
    if len(transactions) != 1:
        raise AssertionError(f"rendered {len(transactions)} transactions, not 1")
    return transactions[0]


def _written(
    ctx: Context, name: str, check: str, transaction: Transaction, rows: Sequence[Row]
) -> CheckResult:
    """Send a transaction; OK when it FINISHED and every value reads back as sent."""
    run = ctx.send(transaction)
    service = said(run, len(transaction.sqls))
    if not finished(run):
        return CheckResult(name, service, "not written", ok=False)
    problems = readback.differences(ctx.table, rows, ctx.fetch(check))
    if problems:
        return CheckResult(name, service, "; ".join(problems), ok=False)
    return CheckResult(name, service, f"{plural(len(rows), 'row')} read back as sent", ok=True)


def every_kind(ctx: Context) -> CheckResult:
    """One record through every column kind: each CAST, JSON_PARSE, the overflow column."""
    check = "kinds"
    row = read_row(ctx.reader(), message_id(ctx.run_id, check, 0), EVERY_KIND_BODY)
    missing = [c.name for i, c in enumerate(ctx.table.columns) if i not in row.present]
    if missing:
        raise AssertionError(f"the sample record leaves out {missing}")
    transaction = _single(ctx.renderer().render([row]).transactions)
    kinds = len({c.kind for c in ctx.table.columns})
    return _written(
        ctx, f"every column kind ({kinds}): CAST, JSON_PARSE", check, transaction, [row]
    )


def default(ctx: Context) -> CheckResult:
    """Two rows in one INSERT, the second without with_default: the renderer writes DEFAULT
    for it. ingested_at (DEFAULT_COLUMNS) is never named and takes its DEFAULT GETDATE()."""
    check = "default"
    name = "DEFAULT"
    bodies: list[dict[str, object]] = [{"required_text": "r", "with_default": 42}]
    bodies.append({"required_text": "r"})
    rows = read_rows(ctx.reader(), ctx.run_id, check, bodies)
    transaction = _single(ctx.renderer().render(rows).transactions)
    if not any("DEFAULT" in sql for sql in transaction.sqls):
        raise AssertionError("the renderer wrote no DEFAULT")
    run = ctx.send(transaction)
    service = said(run, len(transaction.sqls))
    if not finished(run):
        return CheckResult(name, service, "not written", ok=False)
    got = ctx.fetch(check, extra_columns=(INGESTED_AT,))
    problems = readback.differences(ctx.table, rows, got)
    index = [c.name for c in ctx.table.columns].index("with_default")
    defaulted = got.get(rows[1].record_id)
    if defaulted is not None and defaulted[index] != TABLE_DEFAULT:
        problems.append("with_default did not take its DEFAULT")
    if any(values[len(ctx.table.columns)] is None for values in got.values()):
        problems.append(f"{INGESTED_AT} did not take its DEFAULT")
    if problems:
        return CheckResult(name, service, "; ".join(problems), ok=False)
    return CheckResult(name, service, f"with_default and {INGESTED_AT} filled by the table", True)


def sqls(count: int) -> Check:
    """A transaction of `count` SQLs: the guard and count - 1 one-row INSERTs; 1 is an INSERT
    alone, by ExecuteStatement, unguarded. The INSERTs' budget is
    made one row's size, so that each row needs an INSERT of its own (the settings' budgets
    for parameters and the request still apply)."""
    check = f"sqls{count}"
    how = f"guard + {count - 1} INSERTs" if count > 1 else "ExecuteStatement"
    label = f"{plural(count, 'SQL')} ({how})"

    def run(ctx: Context) -> CheckResult:
        inserts = max(1, count - 1)
        rows = read_rows(ctx.reader(), ctx.run_id, check, [{"required_text": "r"}] * inserts)
        # Every row renders to the same size (message ids of one width, names of one width).
        [one] = ctx.renderer().render(rows[:1]).statements
        limits = replace(
            ctx.limits,
            max_bytes=one.size,
            statements_per_transaction=inserts,
            guarded=count > 1,
        )
        transaction = _single(ctx.renderer(limits).render(rows).transactions)
        if len(transaction.sqls) != count:
            raise AssertionError(f"rendered {len(transaction.sqls)} SQLs, not {count}")
        return _written(ctx, label, check, transaction, rows)

    return Check(label, run)


def prefix_free(ctx: Context) -> CheckResult:
    """Over a thousand distinct values in one transaction (as many as the settings allow, if
    fewer), each under its own fixed-width name (names.py), beside the guard's: each must bind
    to its own value."""
    check = "names"
    bodies = [
        {"required_text": f"r{n}", "c_varchar": f"v{n}", "c_text": f"t{n}"}
        for n in range(PREFIX_FREE_PARAMETERS // 4 + 1)
    ]
    rows = read_rows(ctx.reader(), ctx.run_id, check, bodies)
    transaction = ctx.renderer().render(rows).transactions[0]
    spans = []
    for letter in (INSERT_VALUE, GUARD):
        names = [n for n, _ in transaction.parameters if n.startswith(letter)]
        if names:
            spans.append(f"{names[0]}-{names[-1]}")
    name = f"prefix-free names ({', '.join(spans)})"
    return _written(ctx, name, check, transaction, transaction.rows)


def max_parameters(ctx: Context) -> CheckResult:
    """As many parameters as one transaction may carry: two per row (its message id and
    required_text, both distinct), until the renderer starts a second transaction."""
    check = "params"
    most = ctx.limits.max_parameters
    bodies = [{"required_text": f"{n:x}"} for n in range(most // 2 + 2)]
    rows = read_rows(ctx.reader(), ctx.run_id, check, bodies)
    transaction = ctx.renderer().render(rows).transactions[0]
    name = f"{len(transaction.parameters):,} parameters (max {most:,})"
    return _written(ctx, name, check, transaction, transaction.rows)


def request_json_bytes(transaction: Transaction) -> int:
    """The request's SQLs and parameters as botocore's JSON serializer writes them."""
    body = {
        "Sqls": list(transaction.sqls),
        "Parameters": [{"name": n, "value": v} for n, v in transaction.parameters],
    }
    return len(json.dumps(body).encode("utf-8"))


def request_size(ctx: Context) -> CheckResult:
    """Rows of about a quarter INSERT each, until the request budget (or the transaction's
    INSERTs) closes the transaction."""
    check = "request"
    budget = ctx.limits.max_request_bytes or ctx.settings.request_max_bytes
    size = ctx.limits.max_bytes // 4 - 200
    count = min(budget // size + 8, ctx.limits.statements_per_transaction * 4 + 8)
    bodies = [{"required_text": "r", "c_text": filler(size)} for _ in range(count)]
    rows = read_rows(ctx.reader(), ctx.run_id, check, bodies)
    transaction = ctx.renderer().render(rows).transactions[0]
    name = f"request {request_json_bytes(transaction):,} bytes (max {budget:,})"
    return _written(ctx, name, check, transaction, transaction.rows)


def statement_size(ctx: Context) -> CheckResult:
    """One INSERT as full as STATEMENT_MAX_BYTES allows, of short values: mostly SQL text (the
    Data API's 100 KB limit is on the query string)."""
    check = "statement"
    most = ctx.limits.max_bytes
    bodies = [{**SHORT_BODY, "required_text": f"r{n}"} for n in range(most // SHORT_ROW_BYTES)]
    rows = read_rows(ctx.reader(), ctx.run_id, check, bodies)
    limits = replace(ctx.limits, statements_per_transaction=1)
    transaction = ctx.renderer(limits).render(rows).transactions[0]
    [insert] = transaction.statements
    sql = len(insert.sql.encode("utf-8"))
    name = f"INSERT {insert.size:,} bytes, SQL {sql:,} (max {most:,})"
    return _written(ctx, name, check, transaction, transaction.rows)


def probe(ctx: Context) -> CheckResult:
    """The function's control statement: it passes when the service says its second SQL
    failed (so the INSERT before it ran), and it must leave no row behind."""
    name = "probe (INSERT, SELECT 1 / 0)"
    probe_statement = probe_sqls(ctx.renderer())
    if probe_statement is None:
        raise AssertionError("the probe row does not fit a statement")
    statements, parameters = probe_statement
    run = ctx.run(statements, parameters)
    left = ctx.count(PROBE_MESSAGE_ID)
    service = said(run, len(statements))
    outcome = failed(run)
    passed = outcome is not None and probe_passed(outcome.failed_part)
    concluded = f"{'passed' if passed else 'no evidence'}, {plural(left, 'row')} left"
    return CheckResult(name, service, concluded, ok=passed and left == 0)


def guard(ctx: Context) -> CheckResult:
    """Re-create a column with another type, then send a transaction rendered for the table as
    it was: its guard (the first SQL) must fail it, and no row land. Runs last: the table
    changes."""
    check = "guard"
    name = f"column guard ({GUARDED_COLUMN} re-created as {GUARDED_REPLACEMENT})"
    stale = ctx.renderer()
    body = '{"required_text": "r", "guarded": "12"}'
    row = read_row(ctx.reader(), message_id(ctx.run_id, check, 0), body)
    for sql in recreate_column_sqls(ctx.settings.table):
        altered = ctx.run(sql)
        if not finished(altered):
            return CheckResult(name, said(altered, 1), "could not re-create the column", False)
    transaction = _single(stale.render([row]).transactions)
    run = ctx.send(transaction)
    service = said(run, len(transaction.sqls))
    stored = ctx.count(ctx.pattern(check))
    schema, stats = read_schema(ctx.runner, ctx.target, ctx.settings.table, ctx.deadlines())
    ctx.statements += stats.submitted
    column = schema.column(GUARDED_COLUMN)
    now = column.kind.value if column is not None else "missing"
    changed = column is not None and column.kind is GUARDED_REPLACEMENT_KIND
    outcome = failed(run)
    if outcome is None:
        return CheckResult(name, service, f"not stopped: {plural(stored, 'row')} stored", False)
    if outcome.failed_part != 0:
        return CheckResult(name, service, "the guard did not fail the transaction", ok=False)
    concluded = f"table changed (catalog: {now}), {plural(stored, 'row')} stored"
    return CheckResult(name, service, concluded, ok=stored == 0 and changed)
