"""What the function sends for records a target may already hold: the claim (LOCK, then a
check that fails when a record is there) and the full comparison of a redriven record with the
row held under its id. Each is rendered by the function's own code (writer.open_with_claims,
same_record.same_record_queries) and judged as the writer judges it."""

from __future__ import annotations

import json

from ingest.records import Row
from ingest.same_record import same_record_queries
from ingest.sql import Part, Transaction
from ingest.writer import open_with_claims
from preflight.context import CheckResult, Context, failed, finished, said
from preflight.rows import EVERY_KIND_BODY, message_id, read_row


def _claimed(ctx: Context, row: Row, *, lock: bool = True) -> Transaction:
    redelivered = row._replace(receive_count=2)
    [transaction] = ctx.renderer().render([redelivered], claimed=True).transactions
    [opened] = open_with_claims(transaction, ctx.table, lock=lock)
    return opened


def claim(ctx: Context) -> CheckResult:
    """A claimed transaction of a new record must commit it; the same transaction once the
    record is there must fail at the check (the claim's second SQL after the guard), storing
    nothing. A LOCK refused here would leave concurrent redrives unserialised."""
    check = "claim"
    name = "claim (LOCK, guard, check, INSERT)"
    row = read_row(ctx.reader(), message_id(ctx.run_id, check, 0), EVERY_KIND_BODY)
    first = ctx.send(_claimed(ctx, row))
    if not finished(first):
        outcome = failed(first)
        part = _claimed(ctx, row).part_at(outcome.failed_part if outcome else None)
        note = (
            "the target refused LOCK: grant the function's database user what LOCK needs "
            "(table owner, or UPDATE/DELETE), or the function drops the lock and two "
            "concurrent redrives of one record may both commit"
            if part is Part.LOCK
            else ""
        )
        concluded = f"a new record not written (failed at {part.value if part else '?'})"
        return CheckResult(name, said(first, 4), concluded, ok=False, note=note)
    again = _claimed(ctx, row)
    second = ctx.send(again)
    stored = ctx.count(ctx.pattern(check))
    outcome = failed(second)
    service = said(second, len(again.sqls))
    if outcome is None:
        return CheckResult(name, service, f"the check let it through: {stored} rows", ok=False)
    part = again.part_at(outcome.failed_part)
    concluded = f"held record refused at the {part.value if part else '?'}; {stored} row(s)"
    return CheckResult(name, service, concluded, ok=part is Part.CHECK and stored == 1)


def same_record(ctx: Context) -> CheckResult:
    """A stored record compared with itself must be found (SUPER through JSON_SERIALIZE, every
    CAST); the same id with one value changed must not."""
    check = "same"
    name = "redrive compared in full (JSON_SERIALIZE)"
    row = read_row(ctx.reader(), message_id(ctx.run_id, check, 0), EVERY_KIND_BODY)
    [transaction] = ctx.renderer().render([row]).transactions
    written = ctx.send(transaction)
    if not finished(written):
        return CheckResult(name, said(written, len(transaction.sqls)), "not written", ok=False)
    body = json.loads(EVERY_KIND_BODY)
    body["required_text"] = f"{body.get('required_text', '')}-other"
    other = read_row(ctx.reader(), row.record_id, json.dumps(body))
    found: dict[str, set[str]] = {}
    for label, candidate in (("itself", row), ("another", other)):
        redriven = candidate._replace(redriven=True)
        ids: set[str] = set()
        for sql, parameters, _asked in same_record_queries(ctx.table, [redriven]):
            ids |= {str(r[0]) for r in ctx.select(sql, parameters) if r and r[0] is not None}
        found[label] = ids
    itself, another = bool(found["itself"]), bool(found["another"])
    concluded = (
        f"itself {'found' if itself else 'not found'}, "
        f"another {'found' if another else 'not found'}"
    )
    return CheckResult(name, "FINISHED", concluded, ok=itself and not another)
