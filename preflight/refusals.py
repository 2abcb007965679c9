"""Each refusal kind provoked on purpose, and Redshift's real answer fed to the function's
classifier (`failure_text.read_failure`): every one must conclude DATA, so that the writer
bisects to the row and dead-letters it instead of returning the batch forever.

The value goes raw into a Row (past the reader's checks, which refuse most of these first) and
through the renderer's own wrapper for its column: the INSERT is the one the function would
send for such a value. The reader's verdict on the same value, sent as a JSON field, is noted
where the reader lets it through: there the database's refusal is what keeps it out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ingest import failure_text
from ingest.failure_text import FailureKind
from ingest.records import Rejection, SqlValue
from ingest.redshift import StatementStatus
from preflight.context import Check, CheckResult, Context, ended, plural, said
from preflight.rows import decoded, message_id, read_row, with_value

_BASE = '{"required_text": "r"}'


@dataclass(frozen=True)
class Refusal:
    label: str
    check: str  # in its row's message id
    column: str
    raw: SqlValue  # sent as is, in the renderer's wrapper for the column
    number: bool = False  # a sender writes it as a JSON number, not a string

    @property
    def field(self) -> str:
        """The value as a sender's JSON field, for the reader's own verdict on it."""
        if self.number and isinstance(self.raw, str):
            return self.raw
        return json.dumps(self.raw)


REFUSALS: tuple[Refusal, ...] = (
    # 9 characters in 18 bytes: Redshift counts a VARCHAR's bytes, PostgreSQL its characters.
    Refusal("over-long VARCHAR(16), in bytes", "long", "c_varchar", "\u00e9" * 9),
    Refusal("SMALLINT overflow", "short", "c_smallint", "40000", number=True),
    Refusal("INTEGER overflow", "int", "c_integer", "3000000000", number=True),
    # 13 integer digits where DECIMAL(18,6) holds 12.
    Refusal("DECIMAL(18,6) overflow", "dec", "c_decimal", "1234567890123.5", number=True),
    # JSON_PARSE's input; as a field, JSON text in a string (as AppsFlyer sends event_value).
    Refusal("duplicate SUPER key", "dup", "c_super", '{"a":1,"a":2}'),
    # The NULL constant (the Data API cannot carry a NULL parameter).
    Refusal("NULL into NOT NULL", "null", "required_text", None),
    Refusal("TIMESTAMPTZ offset of 16 hours", "tz", "c_timestamptz", "2024-01-01 00:00:00+16:00"),
)

READER_PASSES = (
    "the function's reader lets this value through: this refusal, classified DATA, is what "
    "keeps it out (the writer bisects to its row and dead-letters it)"
)
DUPLICATE_KEY = "dup"  # the one refusal the service may accept: the reader refuses it first


def refusal(case: Refusal) -> Check:
    label = f"refusal: {case.label}"

    def run(ctx: Context) -> CheckResult:
        record_id = message_id(ctx.run_id, case.check, 0)
        row = with_value(ctx.table, read_row(ctx.reader(), record_id, _BASE), case.column, case.raw)
        [transaction] = ctx.renderer().render([row]).transactions
        run = ctx.send(transaction)
        service = said(run, len(transaction.sqls))
        stored = ctx.count(ctx.pattern(case.check))
        reader = reader_verdict(ctx, case, record_id)
        outcome = ended(run)
        if outcome is not None and outcome.status is StatementStatus.FINISHED:
            return accepted(label, case, service, reader, stored)
        if outcome is None or outcome.status is not StatementStatus.FAILED:
            return CheckResult(label, service, "not judged: it did not end FAILED", ok=False)
        verdict = failure_text.read_failure(outcome.error or "")
        concluded = [f"{verdict.kind.value}: {verdict.rule}"]
        if verdict.code is not None and str(verdict.code) not in verdict.rule:
            concluded[0] += f" (code {verdict.code})"
        if outcome.failed_part == 0:
            concluded.append("but the guard failed, not the INSERT")
        if stored:
            concluded.append(f"but {plural(stored, 'row')} stored")
        note = "" if reader else READER_PASSES
        ok = verdict.kind is FailureKind.DATA and len(concluded) == 1
        return CheckResult(label, service, "; ".join(concluded), ok, note)

    return Check(label, run)


def reader_verdict(ctx: Context, case: Refusal, record_id: str) -> str:
    """The reader's reason for refusing the value sent as a JSON field; "" if it takes it."""
    body = '{"required_text": "r", "' + case.column + '": ' + case.field + "}"
    result = decoded(record_id, body)
    if isinstance(result, Rejection):
        return result.reason.value
    row = ctx.reader().read(result)
    return row.reason.value if isinstance(row, Rejection) else ""


def accepted(label: str, case: Refusal, service: str, reader: str, stored: int) -> CheckResult:
    accepted = f"{service} (accepted)"
    if case.check == DUPLICATE_KEY and reader:
        note = (
            "the service accepted JSON_PARSE of an object with a duplicate key; the function's "
            f"reader refuses such a value before sending it ({reader}: "
            "exact_json.DuplicateKeyError)"
        )
        return CheckResult(
            label, accepted, f"never sent: the reader refuses it ({reader})", True, note
        )
    return CheckResult(label, accepted, f"{plural(stored, 'row')} stored", ok=False)


REFUSAL_CHECKS: tuple[Check, ...] = tuple(refusal(case) for case in REFUSALS)
