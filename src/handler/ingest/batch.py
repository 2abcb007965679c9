"""One SQS batch end to end: read, validate, write to every target, settle, dead-letter."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ingest.catalog import SchemaUnavailable, TargetTables
from ingest.config import Settings, Target
from ingest.dead_letter import DeadLetter, DeadLetterQueue
from ingest.deadline import Deadlines
from ingest.fates import Fate, FateKind, TargetOutcome, WriteCounts
from ingest.records import (
    Decoded,
    Reason,
    Rejection,
    Row,
    SqsMessage,
    decode,
    read_message,
    read_records,
)
from ingest.row_reader import RowReader
from ingest.schema import TableSchema
from ingest.settle import HandBack, Letter, Outcome, Owed, settle
from ingest.source_queue import Receipt, SourceQueue
from ingest.writer import TargetWriter

# A table refusing records is read again before they are dead-lettered, at most this often
# (always for a redriven record: an operator acted).
RECHECK_SECONDS = 30.0


class NothingProgressed(Exception):
    """No record could be written, found written, or dead-lettered: Lambda should back off."""

    def __init__(self, report: BatchReport) -> None:
        # The message stays short and value-free: Lambda logs it; the report has the details.
        super().__init__(f"none of {report.received} records could be written or dead-lettered")
        self.report = report


@dataclass(frozen=True)
class FailureLine:
    """One record's failure, for one log line: never carries row values."""

    message_id: str
    outcome: Outcome
    reason: str
    target: str | None = None
    statement_id: str | None = None


@dataclass(frozen=True)
class BatchReport:
    received: int = 0
    returned: tuple[str, ...] = ()  # message ids handed back to SQS, in batch order
    # Of those, the records each target still lacks: one target down shows as its own count.
    returned_lacking: dict[str, int] = field(default_factory=dict)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    dead_letter_send_failures: int = 0
    # Dead-lettered records that could not be deleted from their queue at once: if this
    # invocation were killed, SQS would deliver them (and they would be dead-lettered) again.
    dead_letters_not_deleted: int = 0
    targets: tuple[TargetOutcome, ...] = ()
    failures: tuple[FailureLine, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "records_received": self.received,
            "rows_written": {t.target: len(t.written) for t in self.targets},
            "rows_already_present": {t.target: len(t.already_held) for t in self.targets},
            "records_dead_lettered": sum(self.dead_lettered.values()),
            "dead_lettered_by_reason": dict(self.dead_lettered),
            "records_returned": len(self.returned),
            "records_returned_lacking": dict(self.returned_lacking),
            "statements_submitted": {t.target: t.stats.submitted for t in self.targets},
            # Refusals are not statements; without these a reader sees only "0 submitted".
            "quota_rejections": {t.target: t.stats.quota_rejections for t in self.targets},
            "throttles": {t.target: t.stats.throttles for t in self.targets},
            "statements_unconfirmed": {t.target: list(t.unconfirmed) for t in self.targets},
            "dead_letter_send_failures": self.dead_letter_send_failures,
            "dead_letters_not_deleted": self.dead_letters_not_deleted,
        }


@dataclass(frozen=True)
class _Screened:
    """The batch's records that go on to the targets, and those settled before any target."""

    records: tuple[Decoded, ...]
    letters: tuple[Letter, ...]
    handed_back: tuple[HandBack, ...]


@dataclass(frozen=True)
class _Rows:
    """A batch's records read for one table: rows, and the records its rules refuse."""

    rows: dict[str, Row]  # by message id
    invalid: dict[str, Fate]  # REFUSED_BY_TABLE, by message id


class _RowsBySchema:
    """Records read once per distinct table schema: a primary and a secondary with the same
    table (the common case) share the work."""

    def __init__(self, records: Sequence[Decoded]) -> None:
        self._records = records
        self.redriven = frozenset(
            r.message.message_id for r in records if r.message.original_message_id is not None
        )
        self._done: dict[TableSchema, _Rows] = {}
        self._lock = threading.Lock()

    def read(self, reader: RowReader) -> _Rows:
        with self._lock:  # the per-target threads would only contend for the GIL anyway
            key = reader.layout.schema
            done = self._done.get(key)
            if done is None:
                done = self._done[key] = _read_all(reader, self._records)
            return done


def _read_all(reader: RowReader, records: Sequence[Decoded]) -> _Rows:
    rows: dict[str, Row] = {}
    invalid: dict[str, Fate] = {}
    for record in records:
        outcome = reader.read(record)
        if isinstance(outcome, Rejection):
            invalid[outcome.message_id] = Fate(
                FateKind.REFUSED_BY_TABLE, outcome.detail, rule=outcome.reason
            )
        else:
            rows[outcome.message_id] = outcome
    return _Rows(rows, invalid)


@dataclass(frozen=True)
class BatchIngest:
    """The function's whole job for one batch; built once per cold start (see wiring)."""

    settings: Settings
    tables: TargetTables
    writer: TargetWriter
    dead_letters: DeadLetterQueue
    source: SourceQueue

    def process(self, event: Any, deadlines: Deadlines) -> BatchReport:
        """What happened to every record; raises NothingProgressed when nothing could."""
        messages = _unique(
            read_message(record, position) for position, record in enumerate(read_records(event))
        )
        screened = self._screen(messages)
        outcomes = self._write_all(screened.records, deadlines)
        owed = [
            Owed(
                r.message.message_id,
                frozenset(r.message.failed_targets) if r.message.failed_targets else None,
                r.message.receive_count,
            )
            for r in screened.records
        ]
        settled = settle(owed, outcomes, self._target_names, self.settings.source_max_receive_count)
        letters = screened.letters + settled.letters
        unsent = self._send(letters, messages, deadlines)
        not_deleted = self._delete_sent(letters, unsent, messages, deadlines)
        handed_back = (
            screened.handed_back
            + settled.handed_back
            + tuple(HandBack(m, "dead-letter send failed") for m in sorted(unsent))
        )
        report = _report(
            messages,
            outcomes,
            letters,
            unsent=unsent,
            handed_back=handed_back,
            not_deleted=not_deleted,
        )
        progressed = report.dead_lettered or any(t.written for t in outcomes)
        if messages and not progressed and len(report.returned) == len(messages):
            raise NothingProgressed(report)
        return report

    @property
    def _target_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.settings.targets)

    def _screen(self, messages: Sequence[SqsMessage]) -> _Screened:
        """What can be settled before any table is asked: attributes and JSON."""
        names = set(self._target_names)
        records: list[Decoded] = []
        letters: list[Letter] = []
        handed_back: list[HandBack] = []
        identities: set[str] = set()
        for message in messages:
            owed = message.failed_targets or self._target_names
            if message.redrive_problem is not None:
                letters.append(
                    Letter(
                        message.message_id, Reason.INVALID_REDRIVE, message.redrive_problem, owed
                    )
                )
                continue
            if message.failed_targets is not None and not set(message.failed_targets) <= names:
                unknown = len(set(message.failed_targets) - names)
                detail = f"failed_targets names {unknown} target(s) this function does not write"
                letters.append(Letter(message.message_id, Reason.INVALID_REDRIVE, detail, owed))
                continue
            decoded = decode(message)
            if isinstance(decoded, Rejection):
                letters.append(Letter(message.message_id, decoded.reason, decoded.detail, owed))
            elif message.record_id in identities:
                # The same record twice in one batch (redriven twice): one copy is written; the
                # other comes back and will be found held.
                handed_back.append(HandBack(message.message_id, "same record twice in one batch"))
            else:
                identities.add(message.record_id)
                records.append(decoded)
        return _Screened(tuple(records), tuple(letters), tuple(handed_back))

    def _write_all(
        self, records: Sequence[Decoded], deadlines: Deadlines
    ) -> tuple[TargetOutcome, ...]:
        by_schema = _RowsBySchema(records)

        def write_one(target: Target) -> TargetOutcome:
            owed = [
                r.message.message_id
                for r in records
                if r.message.failed_targets is None or target.name in r.message.failed_targets
            ]
            if not owed:
                return TargetOutcome(target.name)
            return self._write_target(target, owed, by_schema, deadlines)

        targets = self.settings.targets
        if len(targets) == 1:
            return (write_one(targets[0]),)
        with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="target") as pool:
            return tuple(pool.map(write_one, targets))

    def _write_target(
        self,
        target: Target,
        owed: Sequence[str],
        by_schema: _RowsBySchema,
        deadlines: Deadlines,
    ) -> TargetOutcome:
        started = self.tables.now()
        try:
            table = self.tables.table_for(target, deadlines)
        except SchemaUnavailable as unknown:
            return self._unreadable(TargetOutcome(target.name), owed, unknown)
        read = by_schema.read(table.reader)
        rows = [read.rows[m] for m in owed if m in read.rows]
        invalid = {m: read.invalid[m] for m in owed if m in read.invalid}
        outcome = self.writer.write(target, table.renderer, rows, deadlines, self.tables)
        # Before a record is dead-lettered by a table's rules, a table read before this batch
        # (and not in the last RECHECK_SECONDS: a steady trickle of bad records must not cost a
        # catalog query per batch) is read again: a column widened since must not cost a record.
        # A redriven record means an operator acted (widened a column, say): its table is read
        # again whatever its age.
        redriven = any(m in by_schema.redriven for m in invalid)
        stale = (
            bool(invalid)
            and not outcome.table_changed
            and table.read_at < started
            and (redriven or started - table.read_at >= RECHECK_SECONDS)
        )
        if outcome.table_changed or (stale and self.tables.changed(target, deadlines)):
            # The table changed under the batch: its unwritten records (and those the old
            # table refused) are read again for the table as it is now and written once more,
            # never dead-lettered for the change itself.
            again = [*outcome.ids(FateKind.TABLE_CHANGED), *invalid]
            try:
                table = self.tables.table_for(target, deadlines)
            except SchemaUnavailable as unknown:
                return self._unreadable(outcome, again, unknown)
            reread = by_schema.read(table.reader)
            rows = [reread.rows[m] for m in again if m in reread.rows]
            second = self.writer.write(target, table.renderer, rows, deadlines, self.tables)
            invalid = {m: reread.invalid[m] for m in again if m in reread.invalid}
            outcome = outcome.then(second, again)
        return outcome.with_fates(invalid).with_counts(
            WriteCounts(self.tables.take_stats(target.name))
        )

    def _unreadable(
        self, outcome: TargetOutcome, ids: Sequence[str], unknown: SchemaUnavailable
    ) -> TargetOutcome:
        """The target's table could not be read: these records come back, with the reason."""
        spent = WriteCounts(
            self.tables.take_stats(outcome.target) + unknown.stats, unconfirmed=unknown.unconfirmed
        )
        returned = dict.fromkeys(ids, Fate(FateKind.RETURNED, str(unknown)))
        return outcome.with_fates(returned).with_counts(spent)

    def _send(
        self, letters: Sequence[Letter], messages: Sequence[SqsMessage], deadlines: Deadlines
    ) -> set[str]:
        if not letters:
            return set()
        by_id = {m.message_id: m for m in messages}
        dead_letters = [
            DeadLetter(
                letter.message_id,
                by_id[letter.message_id].record_id,
                by_id[letter.message_id].body,
                letter.reason,
                letter.detail,
                letter.failed_targets,
            )
            for letter in letters
        ]
        return self.dead_letters.send(dead_letters, deadlines.hard)

    def _delete_sent(
        self,
        letters: Sequence[Letter],
        unsent: set[str],
        messages: Sequence[SqsMessage],
        deadlines: Deadlines,
    ) -> int:
        by_id = {m.message_id: m for m in messages}
        receipts = []
        for letter in letters:
            message = by_id[letter.message_id]
            if letter.message_id in unsent:
                continue
            if message.receipt_handle is None or message.source_arn is None:
                continue  # not from SQS (a test's or an operator's event): nothing to delete
            receipts.append(Receipt(message.message_id, message.receipt_handle, message.source_arn))
        if not receipts:
            return 0
        return len(self.source.delete(receipts, deadlines.hard))


def _report(
    messages: Sequence[SqsMessage],
    outcomes: tuple[TargetOutcome, ...],
    letters: Sequence[Letter],
    *,
    unsent: set[str],
    handed_back: Sequence[HandBack],
    not_deleted: int,
) -> BatchReport:
    sent = [letter for letter in letters if letter.message_id not in unsent]
    handing_back = {r.message_id: r for r in handed_back}
    failures = [
        FailureLine(
            letter.message_id,
            Outcome.DEAD_LETTERED,
            letter.detail,
            ",".join(letter.failed_targets) or None,
        )
        for letter in sent
    ]
    failures += [
        FailureLine(r.message_id, Outcome.RETURNED, r.reason, r.target, r.statement_id)
        for r in handing_back.values()
    ]
    returned = tuple(m.message_id for m in messages if m.message_id in handing_back)
    return BatchReport(
        received=len(messages),
        returned=returned,
        returned_lacking={t.target: sum(1 for m in returned if m in t.returned) for t in outcomes},
        dead_lettered=Counter(letter.reason.value for letter in sent),
        dead_letter_send_failures=len(unsent),
        dead_letters_not_deleted=not_deleted,
        targets=outcomes,
        failures=tuple(failures),
    )


def _unique(messages: Any) -> list[SqsMessage]:
    # SQS can repeat a message inside one batch; its one itemIdentifier covers both copies.
    seen: dict[str, SqsMessage] = {}
    for message in messages:
        seen.setdefault(message.message_id, message)
    return list(seen.values())
