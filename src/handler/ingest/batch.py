"""One SQS batch end to end: validate, write to every target, dead-letter, decide retries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ingest.config import Settings
from ingest.dead_letter import DeadLetter, DeadLetterQueue
from ingest.deadline import Deadline
from ingest.ledger import Ledger, LedgerError
from ingest.records import Reason, Rejection, Row, SqsMessage, read_message, validate
from ingest.writer import TargetResult, TargetWriter


class BatchRetryRequested(Exception):
    """Nothing in the batch could be written or dead-lettered: let Lambda back off the queue."""


@dataclass(frozen=True)
class FailureLine:
    """One record's failure, for one log line: never carries row values."""

    message_id: str
    outcome: str  # dead_lettered | retried
    reason: str
    target: str | None = None
    statement_id: str | None = None


@dataclass
class BatchReport:
    received: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    retried: list[str] = field(default_factory=list)
    skipped_already_written: int = 0
    dead_letter_send_failures: int = 0
    ledger_errors: int = 0
    # Records handed back after some target took them, whose ledger entry could not be written:
    # on redelivery those targets will receive them again (logged at error level).
    unrecorded_split: list[str] = field(default_factory=list)
    targets: list[TargetResult] = field(default_factory=list)
    failures: list[FailureLine] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "records_received": self.received,
            "rows_written": dict(self.rows_written),
            "records_dead_lettered": sum(self.dead_lettered.values()),
            "dead_lettered_by_reason": dict(self.dead_lettered),
            "records_retried": len(self.retried),
            "rows_skipped_already_written": self.skipped_already_written,
            "statements_submitted": {t.target: t.stats.statements_submitted for t in self.targets},
            # Refusals are not statements; without these a reader sees only "0 submitted".
            "quota_rejections": {t.target: t.stats.quota_rejections for t in self.targets},
            "throttles": {t.target: t.stats.throttles for t in self.targets},
            "dead_letter_send_failures": self.dead_letter_send_failures,
            "ledger_errors": self.ledger_errors,
        }


@dataclass(frozen=True)
class BatchProcessor:
    settings: Settings
    writer: TargetWriter
    dead_letters: DeadLetterQueue
    ledger: Ledger | None

    def process(
        self, records: Sequence[Mapping[str, Any]], deadline: Deadline
    ) -> tuple[list[str], BatchReport]:
        """Return the message ids to hand back to SQS, and what happened to every record."""
        report = BatchReport()
        messages = _unique(read_message(r) for r in records)
        report.received = len(messages)
        bodies = {m.message_id: m.body for m in messages}

        letters: list[DeadLetter] = []
        rows: list[Row] = []
        for message in messages:
            outcome = validate(message)
            if isinstance(outcome, Rejection):
                letters.append(
                    DeadLetter(message.message_id, message.body, outcome.reason, outcome.detail)
                )
            else:
                rows.append(outcome)

        retry: dict[str, FailureLine] = {}
        already = self._already_written(rows, retry, report)
        rows = [r for r in rows if r.message_id not in retry]
        results = self._write_all(rows, already, deadline)
        report.targets = results
        report.skipped_already_written = sum(len(already.get(r.message_id, ())) for r in rows)

        newly_written: dict[str, set[str]] = {}
        for row in rows:
            self._settle(row.message_id, bodies[row.message_id], results, letters, retry)
            written_now = {r.target for r in results if row.message_id in r.written}
            if written_now:
                newly_written[row.message_id] = written_now

        for message_id in self._send_dead_letters(letters, report):
            retry.setdefault(
                message_id, FailureLine(message_id, "retried", "dead-letter send failed")
            )
        self._remember_split_outcomes(retry, newly_written, report)

        report.retried = [m.message_id for m in messages if m.message_id in retry]
        report.failures.extend(retry[m] for m in report.retried)
        for result in results:
            report.rows_written[result.target] = len(result.written)
        nothing_done = not any(report.rows_written.values()) and not report.dead_lettered
        if messages and nothing_done and len(report.retried) == len(messages):
            raise BatchRetryRequested(report)
        return report.retried, report

    def _already_written(
        self, rows: list[Row], retry: dict[str, FailureLine], report: BatchReport
    ) -> dict[str, set[str]]:
        """Targets that already hold a redelivered record (from an earlier split outcome)."""
        redelivered = [r.message_id for r in rows if r.receive_count > 1]
        if self.ledger is None or not redelivered:
            return {}
        try:
            return self.ledger.targets_holding(redelivered, [t.name for t in self.settings.targets])
        except LedgerError as exc:
            # Without the ledger we cannot know where these already landed: write nothing now.
            report.ledger_errors += 1
            for message_id in redelivered:
                retry[message_id] = FailureLine(message_id, "retried", f"ledger unreadable: {exc}")
            return {}

    def _write_all(
        self, rows: list[Row], already: dict[str, set[str]], deadline: Deadline
    ) -> list[TargetResult]:
        def write_one(index: int) -> TargetResult:
            target = self.settings.targets[index]
            todo = [r for r in rows if target.name not in already.get(r.message_id, ())]
            if not todo:
                return TargetResult(target.name)
            return self.writer.write(target, todo, deadline)

        count = len(self.settings.targets)
        if count == 1:
            return [write_one(0)]
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="target") as pool:
            return list(pool.map(write_one, range(count)))

    @staticmethod
    def _settle(
        message_id: str,
        body: str,
        results: list[TargetResult],
        letters: list[DeadLetter],
        retry: dict[str, FailureLine],
    ) -> None:
        """A record is done only when every target has it (now or from an earlier delivery);
        one that a target must still take comes back, one that a target refuses is a letter."""
        if any(message_id in r.oversized for r in results):
            detail = "record alone exceeds the statement size budget (STATEMENT_MAX_BYTES)"
            letters.append(DeadLetter(message_id, body, Reason.RECORD_TOO_LARGE, detail))
            return
        for result in results:
            failure = result.retry.get(message_id)
            if failure is not None:
                retry[message_id] = FailureLine(
                    message_id, "retried", failure.reason, result.target, failure.statement_id
                )
                return
        rejecting = [r for r in results if message_id in r.rejected]
        if rejecting:
            letters.append(
                DeadLetter(
                    message_id,
                    body,
                    Reason.REJECTED_BY_DATABASE,
                    rejecting[0].rejected[message_id],
                    tuple(r.target for r in rejecting),
                )
            )

    def _send_dead_letters(self, letters: list[DeadLetter], report: BatchReport) -> set[str]:
        if not letters:
            return set()
        failed = self.dead_letters.send(letters)
        report.dead_letter_send_failures = len(failed)
        for letter in letters:
            if letter.message_id in failed:
                continue
            report.dead_lettered[letter.reason.value] += 1
            target = ",".join(letter.failed_targets) or None
            report.failures.append(
                FailureLine(letter.message_id, "dead_lettered", letter.detail, target)
            )
        return failed

    def _remember_split_outcomes(
        self,
        retry: dict[str, FailureLine],
        newly_written: dict[str, set[str]],
        report: BatchReport,
    ) -> None:
        """A record going back to the queue that some target took: note where it landed."""
        entries = [
            (message_id, target)
            for message_id in retry
            for target in sorted(newly_written.get(message_id, ()))
        ]
        if not entries or self.ledger is None:
            return
        try:
            self.ledger.record(entries)
        except LedgerError:
            report.ledger_errors += 1
            report.unrecorded_split = sorted({message_id for message_id, _ in entries})


def _unique(messages: Any) -> list[SqsMessage]:
    # SQS can repeat a message inside one batch; its one itemIdentifier covers both copies.
    seen: dict[str, SqsMessage] = {}
    for message in messages:
        seen.setdefault(message.message_id, message)
    return list(seen.values())
