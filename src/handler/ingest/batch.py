"""One SQS batch end to end: read, validate, write to every target, settle, dead-letter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ingest.config import Settings
from ingest.dead_letter import DeadLetter, DeadLetterQueue
from ingest.deadline import Deadlines
from ingest.records import (
    Reason,
    Rejection,
    Row,
    SqsMessage,
    read_message,
    read_records,
    validate,
)
from ingest.settle import Letter, Outcome, Retry, settle
from ingest.source_queue import Receipt, SourceQueue
from ingest.writer import TargetOutcome, TargetWriter


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
    retried: tuple[str, ...] = ()  # message ids handed back to SQS, in batch order
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
            "records_retried": len(self.retried),
            "statements_submitted": {t.target: t.stats.submitted for t in self.targets},
            # Refusals are not statements; without these a reader sees only "0 submitted".
            "quota_rejections": {t.target: t.stats.quota_rejections for t in self.targets},
            "throttles": {t.target: t.stats.throttles for t in self.targets},
            "statements_unconfirmed": {t.target: list(t.unconfirmed) for t in self.targets},
            "dead_letter_send_failures": self.dead_letter_send_failures,
            "dead_letters_not_deleted": self.dead_letters_not_deleted,
        }


@dataclass(frozen=True)
class _Validated:
    rows: tuple[Row, ...]
    letters: tuple[Letter, ...]
    retries: tuple[Retry, ...]


@dataclass(frozen=True)
class BatchIngest:
    """The function's whole job for one batch; built once per cold start (see wiring)."""

    settings: Settings
    writer: TargetWriter
    dead_letters: DeadLetterQueue
    source: SourceQueue

    def process(self, event: Any, deadlines: Deadlines) -> BatchReport:
        """What happened to every record; raises NothingProgressed when nothing could."""
        messages = _unique(
            read_message(record, position) for position, record in enumerate(read_records(event))
        )
        validated = self._validate(messages)
        outcomes = self._write_all(validated.rows, deadlines)
        settled = settle(validated.rows, outcomes, self._target_names)
        letters = validated.letters + settled.letters
        unsent = self._send(letters, messages, deadlines)
        not_deleted = self._delete_sent(letters, unsent, messages, deadlines)
        retries = (
            validated.retries
            + settled.retries
            + tuple(Retry(m, "dead-letter send failed") for m in sorted(unsent))
        )
        report = _report(
            messages, outcomes, letters, unsent=unsent, retries=retries, not_deleted=not_deleted
        )
        progressed = report.dead_lettered or any(t.written for t in outcomes)
        if messages and not progressed and len(report.retried) == len(messages):
            raise NothingProgressed(report)
        return report

    @property
    def _target_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.settings.targets)

    def _validate(self, messages: Sequence[SqsMessage]) -> _Validated:
        names = set(self._target_names)
        rows: list[Row] = []
        letters: list[Letter] = []
        retries: list[Retry] = []
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
            outcome = validate(message)
            if isinstance(outcome, Rejection):
                letters.append(Letter(message.message_id, outcome.reason, outcome.detail, owed))
            elif outcome.targets is not None and not outcome.targets <= names:
                unknown = len(outcome.targets - names)
                detail = f"failed_targets names {unknown} target(s) this function does not write"
                letters.append(Letter(message.message_id, Reason.INVALID_REDRIVE, detail, owed))
            elif outcome.record_id in identities:
                # The same record twice in one batch (redriven twice): one copy is written; the
                # other comes back and will be found held.
                retries.append(Retry(message.message_id, "same record twice in one batch"))
            else:
                identities.add(outcome.record_id)
                rows.append(outcome)
        return _Validated(tuple(rows), tuple(letters), tuple(retries))

    def _write_all(self, rows: Sequence[Row], deadlines: Deadlines) -> tuple[TargetOutcome, ...]:
        def write_one(index: int) -> TargetOutcome:
            target = self.settings.targets[index]
            owed = [r for r in rows if r.targets is None or target.name in r.targets]
            if not owed:
                return TargetOutcome(target.name)
            return self.writer.write(target, owed, deadlines)

        count = len(self.settings.targets)
        if count == 1:
            return (write_one(0),)
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="target") as pool:
            return tuple(pool.map(write_one, range(count)))

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
    retries: Sequence[Retry],
    not_deleted: int,
) -> BatchReport:
    sent = [letter for letter in letters if letter.message_id not in unsent]
    retried = {r.message_id: r for r in retries}
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
        FailureLine(r.message_id, Outcome.RETRIED, r.reason, r.target, r.statement_id)
        for r in retried.values()
    ]
    return BatchReport(
        received=len(messages),
        retried=tuple(m.message_id for m in messages if m.message_id in retried),
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
