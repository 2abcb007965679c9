"""Writes one batch's rows into one target: what it already holds, transactions, bisection."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from ingest.claim import ClaimTooLarge, claim
from ingest.config import Target
from ingest.deadline import Deadlines
from ingest.failure_text import FailureKind, read_failure
from ingest.fates import (
    HELD,
    IMPOSTOR,
    PENDING,
    TOO_LARGE,
    WRITTEN,
    Fate,
    FateKind,
    TargetOutcome,
    WriteCounts,
)
from ingest.layout import TableLayout
from ingest.masking import mask
from ingest.presence import PresenceUnknown, TargetPresence
from ingest.probe import PROBE_MESSAGE_ID, probe_passed, probe_sqls
from ingest.records import Row
from ingest.redshift import StatementOutcome, StatementStatus
from ingest.sql import InsertRenderer, Part, Transaction
from ingest.statement_runner import (
    GaveUp,
    Ran,
    Refused,
    SelectFailed,
    StatementRunner,
    StatementStats,
)

log = logging.getLogger(__name__)


class ProbeResult(StrEnum):
    PASSED = "passed"  # the INSERT's shape ran on known-good values: a lone failure is the row's
    FAILED = "failed"  # it failed too: the target's, and nothing more is sent this write
    INCONCLUSIVE = "inconclusive"  # no evidence (the service did not say which SQL failed)


# Bisection statements one target may spend per invocation: enough to isolate a dozen bad rows
# in a batch of 10,000 (about 2 x log2(n) each); past it the rest of the failing part comes back.
BISECTION_BUDGET = 200
# Statements that FAILED with the connection lost (the commit may have taken effect) after
# which the target is asked which rows it holds, per write; past it the rest comes back.
COMMIT_UNKNOWN_BUDGET = 2
# Claims (claim.py) that found some of their records already there, after which the target is
# asked which it holds, per write; past it the rest comes back.
CLAIM_CHECK_BUDGET = 2
TABLE_CHANGED = "the target table changed while rows were being written"
# The request budget never falls below this after refusals (one full INSERT and some).
_MIN_REQUEST_BYTES = 16_384


class TableWatch(Protocol):
    """Asks whether the target's table changed since its layout was read (catalog.py)."""

    def changed(self, target: Target, deadlines: Deadlines) -> bool: ...


@dataclass
class _Progress:
    """The writer's running tally for one target: local to one write() call. Every record's
    fate goes in `fates` where it is decided; a later decision (a row written after its half
    was sent again) replaces an earlier one."""

    fates: dict[str, Fate] = field(default_factory=dict)
    suspects: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # What the probe (the INSERT's own shape on known-good values) showed, once run at the
    # first single row that fails (see _corroborate). Rows are convicted only when it passed.
    probe: ProbeResult | None = None
    commit_checks: int = 0
    claim_checks: int = 0
    guard_retried: bool = False  # a guard that failed on an unchanged table was sent again
    table_checked: bool = False  # asked once whether the table changed
    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    unconfirmed: list[str] = field(default_factory=list)
    transactions: int = 0

    def record(self, message_ids: Iterable[str], fate: Fate) -> None:
        for message_id in message_ids:
            self.fates[message_id] = fate

    def give_back(
        self,
        rows: Sequence[Row],
        reason: str,
        statement_id: str | None,
        kind: FateKind = FateKind.RETURNED,
    ) -> None:
        self.record((r.message_id for r in rows), Fate(kind, reason, statement_id))

    def give_back_all(
        self,
        pending: deque[Transaction],
        reason: str,
        statement_id: str | None = None,
        kind: FateKind = FateKind.RETURNED,
    ) -> None:
        for unsent in pending:
            self.give_back(unsent.rows, reason, statement_id, kind)
        pending.clear()

    def returned(self) -> set[str]:
        return {m for m, f in self.fates.items() if f.kind in PENDING}

    def outcome(self, target: str, dropped_fields: int = 0) -> TargetOutcome:
        counts = WriteCounts(
            self.stats,
            self.bisection_steps,
            self.transactions,
            dropped_fields,
            tuple(self.unconfirmed),
        )
        return TargetOutcome(target, dict(self.fates), counts)


class TargetWriter:
    """One statement in flight per target per invocation: quota use stays predictable.

    Kept for the container's life, per target: a request budget lowered by the service's size
    refusals, and whether the column guard works there (a target whose catalog the guard
    cannot read writes without it rather than never)."""

    def __init__(self, runner: StatementRunner, presence: TargetPresence) -> None:
        self._runner = runner
        self._presence = presence
        self._lock = threading.Lock()
        self._request_ceiling: dict[str, int] = {}
        self._unguarded: set[str] = set()
        self._unlocked: set[str] = set()

    def request_ceiling(self, target: str) -> int | None:
        with self._lock:
            return self._request_ceiling.get(target)

    def lower_request_ceiling(self, target: str, refused_bytes: int) -> None:
        """A request of `refused_bytes` was refused as too large: later ones stay below half."""
        ceiling = max(_MIN_REQUEST_BYTES, refused_bytes // 2)
        with self._lock:
            known = self._request_ceiling.get(target)
            if known is None or ceiling < known:
                self._request_ceiling[target] = ceiling
                log.warning(
                    "request budget for target %s lowered to %d bytes after a size refusal",
                    target,
                    ceiling,
                )

    def guarded(self, target: str) -> bool:
        with self._lock:
            return target not in self._unguarded

    def drop_guard(self, target: str) -> None:
        with self._lock:
            self._unguarded.add(target)
        log.warning(
            "column guard failed on target %s, in its transaction and alone, while its table "
            "had not changed: writing without it (a re-created column is then found only by "
            "SCHEMA_REFRESH_SECONDS)",
            target,
        )

    def locks(self, target: str) -> bool:
        with self._lock:
            return target not in self._unlocked

    def drop_lock(self, target: str, error: str) -> None:
        with self._lock:
            self._unlocked.add(target)
        log.warning(
            "LOCK of the table failed on target %s while its table had not changed (%s): "
            "claims go on without it, so two invocations writing one redriven record at the "
            "same instant could both commit it; grant the function's database user the "
            "privilege LOCK needs (make preflight checks it)",
            target,
            mask(error),
        )

    def write(
        self,
        target: Target,
        renderer: InsertRenderer,
        rows: Sequence[Row],
        deadlines: Deadlines,
        watch: TableWatch,
    ) -> TargetOutcome:
        progress = _Progress()
        maybe_written = [r for r in rows if r.may_be_written]
        if maybe_written:
            try:
                presence = self._presence.held(target, renderer.layout, maybe_written, deadlines)
            except PresenceUnknown as unknown:
                progress.stats = progress.stats + unknown.stats
                if unknown.query_failed and watch.changed(target, deadlines):
                    # The look-up named a column that is gone: every row is read again for the
                    # table as it is now (batch.py), none is judged against the old one.
                    progress.give_back(rows, TABLE_CHANGED, None, FateKind.TABLE_CHANGED)
                    return progress.outcome(target.name)
                # Without the target's answer a redelivered row could land twice: send none.
                progress.give_back(maybe_written, str(unknown), None)
                progress.unconfirmed.extend(unknown.unconfirmed)
            else:
                progress.stats = progress.stats + presence.stats
                progress.record(presence.held_by(maybe_written), HELD)
                progress.record(presence.impostors_in(maybe_written), IMPOSTOR)
        todo = [r for r in rows if r.message_id not in progress.fates]
        run = _Run(self, renderer, target, deadlines, watch, progress)
        run.write(deque(run.render(todo)))
        progress.record(run.oversized, TOO_LARGE)
        for message_id, fate in _judge_suspects(progress).items():
            progress.fates[message_id] = fate
        written = {m for m, f in progress.fates.items() if f.kind is FateKind.WRITTEN}
        dropped = sum(r.dropped_fields for r in todo if r.message_id in written)
        return progress.outcome(target.name, dropped)


@dataclass
class _Run:
    """One write() call's transactions, run one at a time."""

    writer: TargetWriter
    renderer: InsertRenderer
    target: Target
    deadlines: Deadlines
    watch: TableWatch
    progress: _Progress
    oversized: list[str] = field(default_factory=list)

    @property
    def runner(self) -> StatementRunner:
        return self.writer._runner

    def render(self, rows: Sequence[Row]) -> tuple[Transaction, ...]:
        """Rows into transactions, under the target's learned request budget and guard; the
        records the target may hold already go in transactions of their own, claimed."""
        if not self.renderer.limits.claims:
            return self._rendered(rows, claimed=False)
        fresh = [r for r in rows if not r.may_be_written]
        again = [r for r in rows if r.may_be_written]
        return self._rendered(fresh, claimed=False) + self._rendered(again, claimed=True)

    def _rendered(self, rows: Sequence[Row], *, claimed: bool) -> tuple[Transaction, ...]:
        if not rows:
            return ()
        rendering = self.renderer.render(
            rows, max_request_bytes=self.writer.request_ceiling(self.target.name), claimed=claimed
        )
        self.oversized.extend(r.message_id for r in rendering.oversized)
        transactions = rendering.transactions
        if not self.writer.guarded(self.target.name):
            transactions = tuple(t.with_guard(None) for t in transactions)
        if claimed:
            transactions = tuple(c for t in transactions for c in self._claimed(t))
        return transactions

    def _claimed(self, transaction: Transaction) -> tuple[Transaction, ...]:
        """The transaction opened by its records' claim. The table is locked only for
        redriven records (two letters of one record redriven at once): a LOCK waits for every
        reader of the table, so redeliveries, the common case in an outage, rely on the check
        alone, which refuses a record committed before it ran."""
        lock = self.writer.locks(self.target.name) and any(r.redriven for r in transaction.rows)
        return open_with_claims(transaction, self.renderer.layout, lock=lock)

    def _owes_claim(self, transaction: Transaction) -> bool:
        return (
            self.renderer.limits.claims
            and transaction.claim is None
            and any(r.may_be_written for r in transaction.rows)
        )

    def write(self, pending: deque[Transaction]) -> None:
        progress = self.progress
        while pending:
            transaction = pending.popleft()
            if self.deadlines.work.expired():
                pending.appendleft(transaction)
                progress.give_back_all(pending, "deadline reached before submit")
                return
            if self._owes_claim(transaction):
                # A part of a claimed transaction (split after a failure or a size refusal)
                # is claimed again for its own records: none is ever sent unclaimed.
                transaction, *rest = self._claimed(transaction)
                pending.extendleft(reversed(rest))
            sqls = transaction.sqls
            run = self.runner.run(
                self.target,
                sqls[0] if len(sqls) == 1 else sqls,
                transaction.parameters,
                self.deadlines,
            )
            progress.stats = progress.stats + run.stats
            result = run.result
            if isinstance(result, GaveUp):
                if result.unconfirmed_name:
                    progress.unconfirmed.append(result.unconfirmed_name)
                progress.give_back(transaction.rows, result.reason, result.statement_id)
                progress.give_back_all(pending, result.reason)
                return
            if isinstance(result, Refused):
                # Refused before it ran (its size, in words nobody published): smaller
                # requests may pass, and later batches stay below this one's size.
                if len(transaction.rows) > 1 or len(sqls) > 1:
                    self.writer.lower_request_ceiling(self.target.name, transaction.request_bytes)
                self._split(transaction, None, (result.message, None), pending)
                continue
            if not self._settle(transaction, result.outcome, pending):
                return

    def _settle(  # noqa: PLR0911 - one return per kind of end, in the order they apply
        self, transaction: Transaction, outcome: StatementOutcome, pending: deque[Transaction]
    ) -> bool:
        """Book a transaction's confirmed end; False when nothing more should be sent."""
        progress = self.progress
        if outcome.status is StatementStatus.FINISHED:
            progress.record((row.message_id for row in transaction.rows), WRITTEN)
            progress.transactions += 1
            return True
        if outcome.status is not StatementStatus.FAILED:
            # ABORTED: cancelled at the deadline or by an operator; nothing committed.
            reason = f"statement {outcome.status.value}"
            progress.give_back(transaction.rows, reason, outcome.statement_id)
            progress.give_back_all(pending, reason)
            return False
        error = outcome.error or "statement failed without an error message"
        verdict = read_failure(error)
        failed_part = outcome.failed_part
        passing = verdict.kind in (FailureKind.TRANSIENT, FailureKind.COMMIT_UNKNOWN)
        part = transaction.part_at(failed_part)
        if part is Part.GUARD and not passing:
            return self._guard_failed(transaction, outcome, pending)
        if part is Part.LOCK and not passing:
            return self._lock_failed(transaction, outcome, pending)
        if part is Part.CHECK and not passing:
            return self._claim_found_rows(transaction, outcome, pending) is not False
        if part is None and transaction.claim is not None and not passing:
            # The service named no failed SQL: the check may be what failed. The target is
            # asked first; only if it holds none of the records is the failure the rows'.
            found = self._claim_found_rows(transaction, outcome, pending, only_if_found=True)
            if found is not None:
                return found
        if verdict.kind is FailureKind.COMMIT_UNKNOWN:
            return self._commit_unknown(transaction, error, outcome.statement_id, pending)
        # A dropped column fails as configuration, a narrowed one as data, and an unknown text
        # could be either: the table is asked once whether it changed before any row is judged.
        if verdict.kind is not FailureKind.TRANSIENT and self._table_changed():
            self._table_changed_give_back(transaction, outcome.statement_id, pending)
            return False
        if verdict.kind in (FailureKind.DATA, FailureKind.UNKNOWN):
            # An unknown text is bisected too: a row is convicted only when it fails alone and
            # the probe passed, so an unknown target-level failure convicts no row.
            index = transaction.insert_index(failed_part) if failed_part is not None else None
            self._split(transaction, index, (error, outcome.statement_id), pending)
            return True
        reason = f"{verdict.kind.value}: {error}"
        progress.give_back(transaction.rows, reason, outcome.statement_id)
        progress.give_back_all(pending, reason)
        return False

    def _guard_failed(
        self, transaction: Transaction, outcome: StatementOutcome, pending: deque[Transaction]
    ) -> bool:
        """The column guard (the first SQL) failed: the table changed, or the guard itself
        does not work on this target. Nothing committed either way."""
        # Always a fresh catalog read (not the once-per-write check): a column re-created after
        # that check must never be taken for a broken guard and written unguarded.
        self.progress.table_checked = True
        if self.watch.changed(self.target, self.deadlines):
            self._table_changed_give_back(transaction, outcome.statement_id, pending)
            return False
        # The table is as the layout says. The guard is asked alone: if it passes, the failure
        # was a passing one and the transaction goes again, guarded, once per write; only when
        # it fails alone too, on a table the catalog says is unchanged, is it taken for a guard
        # this target cannot run, and dropped (one blip must never switch it off).
        guard = transaction.guard
        if guard is None:  # only a guarded transaction's first SQL is the guard
            return False
        try:
            _, stats = self.runner.select(self.target, guard.sql, guard.parameters, self.deadlines)
        except SelectFailed as failed:
            self.progress.stats = self.progress.stats + failed.stats
            if not failed.failed:  # no confirmed answer: nothing is known, the rows come back
                reason = f"column guard failed and could not be asked again: {failed.reason}"
                self.progress.give_back(transaction.rows, reason, outcome.statement_id)
                self.progress.give_back_all(pending, reason)
                return False
            self.writer.drop_guard(self.target.name)
            pending.appendleft(transaction.with_guard(None))
            for index, waiting in enumerate(pending):
                pending[index] = waiting.with_guard(None)
            return True
        self.progress.stats = self.progress.stats + stats
        if self.progress.guard_retried:
            reason = f"column guard failed twice on an unchanged table: {outcome.error}"
            self.progress.give_back(transaction.rows, reason, outcome.statement_id)
            self.progress.give_back_all(pending, reason)
            return False
        self.progress.guard_retried = True
        pending.appendleft(transaction)
        return True

    def _lock_failed(
        self, transaction: Transaction, outcome: StatementOutcome, pending: deque[Transaction]
    ) -> bool:
        """The claim's LOCK (the first SQL) failed: the table is gone or changed, or this
        target will not let the function lock it. Nothing committed either way."""
        self.progress.table_checked = True
        if self.watch.changed(self.target, self.deadlines):
            self._table_changed_give_back(transaction, outcome.statement_id, pending)
            return False
        self.writer.drop_lock(self.target.name, outcome.error or "")
        unlocked = [transaction, *pending]
        pending.clear()
        for waiting in unlocked:
            opened = waiting.claim
            pending.append(
                waiting if opened is None else waiting.with_claim(replace(opened, lock_sql=None))
            )
        return True

    def _claim_found_rows(
        self,
        transaction: Transaction,
        outcome: StatementOutcome,
        pending: deque[Transaction],
        *,
        only_if_found: bool = False,
    ) -> bool | None:
        """The claim's check failed: some of its records reached the target since the
        presence look-up (another invocation wrote them), or the check could not run. The
        target is asked again which it holds; only the others are sent, claimed anew.
        `only_if_found`: None when the target holds none of them (the failure was not the
        check's), for the caller to judge as any other."""
        progress = self.progress
        reason = f"claim found records in the target: {outcome.error}"
        if progress.claim_checks >= CLAIM_CHECK_BUDGET or self.deadlines.work.expired():
            progress.give_back(transaction.rows, reason, outcome.statement_id)
            progress.give_back_all(pending, reason)
            return False
        progress.claim_checks += 1
        rows = transaction.rows
        try:
            presence = self.writer._presence.held(
                self.target, self.renderer.layout, rows, self.deadlines
            )
        except PresenceUnknown as unknown:
            progress.stats = progress.stats + unknown.stats
            progress.unconfirmed.extend(unknown.unconfirmed)
            progress.give_back(rows, f"{reason}; {unknown}", outcome.statement_id)
            progress.give_back_all(pending, reason)
            return False
        progress.stats = progress.stats + presence.stats
        if only_if_found and not presence.held_by(rows) and not presence.impostors_in(rows):
            return None
        progress.record(presence.held_by(rows), HELD)
        progress.record(presence.impostors_in(rows), IMPOSTOR)
        missing = [
            r
            for r in rows
            if r.record_id not in presence.held and r.record_id not in presence.impostors
        ]
        for again in reversed(self.render(missing)):
            pending.appendleft(again)
        return True

    def _table_changed_give_back(
        self, transaction: Transaction, statement_id: str, pending: deque[Transaction]
    ) -> None:
        pending.appendleft(transaction)
        self.progress.give_back_all(pending, TABLE_CHANGED, statement_id, FateKind.TABLE_CHANGED)

    def _commit_unknown(
        self,
        transaction: Transaction,
        error: str,
        statement_id: str,
        pending: deque[Transaction],
    ) -> bool:
        """FAILED with the connection lost: the COMMIT may have taken effect. The target says
        which rows it holds; only the others are sent again."""
        progress = self.progress
        reason = f"commit unknown: {error}"
        if progress.commit_checks >= COMMIT_UNKNOWN_BUDGET or self.deadlines.work.expired():
            # Handed back: the redelivery asks the target before it writes (receive count > 1).
            progress.give_back(transaction.rows, reason, statement_id)
            progress.give_back_all(pending, reason)
            return False
        progress.commit_checks += 1
        rows = transaction.rows
        try:
            presence = self.writer._presence.held(
                self.target, self.renderer.layout, rows, self.deadlines
            )
        except PresenceUnknown as unknown:
            progress.stats = progress.stats + unknown.stats
            progress.unconfirmed.extend(unknown.unconfirmed)
            progress.give_back(rows, f"{reason}; {unknown}", statement_id)
            progress.give_back_all(pending, reason)
            return False
        progress.stats = progress.stats + presence.stats
        landed = [r for r in rows if r.record_id in presence.held]
        progress.record((r.message_id for r in landed), WRITTEN)
        missing = [r for r in rows if r.record_id not in presence.held]
        if landed:
            progress.transactions += 1
        for part in reversed(self.render(missing)):
            pending.appendleft(part)
        return True

    def _table_changed(self) -> bool:
        """Asked once per write, at the first failure that values could cause: a column
        dropped or narrowed since the layout was read fails statements exactly like a bad
        value, and no record may be dead-lettered for that."""
        progress = self.progress
        if progress.table_checked:
            return False
        progress.table_checked = True
        return self.watch.changed(self.target, self.deadlines)

    def _split(
        self,
        transaction: Transaction,
        failed_part: int | None,
        failure: tuple[str, str | None],
        pending: deque[Transaction],
    ) -> None:
        """Narrow a failed transaction down to its failing rows; a single row is a suspect."""
        progress = self.progress
        error, statement_id = failure
        statements = transaction.statements
        if len(statements) > 1:
            if failed_part is not None and 0 <= failed_part < len(statements):
                # The service named the failing INSERT: the others run again as they were,
                # and only the failing one is bisected.
                others = statements[:failed_part] + statements[failed_part + 1 :]
                parts = [
                    transaction.with_statements((statements[failed_part],)),
                    transaction.with_statements(others),
                ]
            else:
                middle = len(statements) // 2
                parts = [
                    transaction.with_statements(statements[:middle]),
                    transaction.with_statements(statements[middle:]),
                ]
            for part in reversed(parts):
                pending.appendleft(part)
            return
        rows = transaction.rows
        if len(rows) == 1:
            progress.suspects[rows[0].message_id] = (error, statement_id)
            if progress.probe is None:
                progress.probe = self._corroborate()
            if progress.probe is ProbeResult.FAILED:
                # The INSERT's own shape fails on known-good values: nothing is the rows' fault.
                progress.give_back_all(pending, f"statement-level failure, not the rows': {error}")
            return
        if progress.bisection_steps >= BISECTION_BUDGET:
            progress.give_back(rows, f"bisection budget spent: {error}", statement_id)
            return
        # Halves go first, one at a time, so one active statement per target still holds.
        progress.bisection_steps += 1
        middle = len(rows) // 2
        for half in (rows[middle:], rows[:middle]):
            for part in reversed(self.render(half)):
                pending.appendleft(part)

    def _corroborate(self) -> ProbeResult:
        """The probe (probe.py): the INSERT's shape on known-good values, rolled back. Only
        if it passes can a row that fails alone be the reason."""
        probe = probe_sqls(self.renderer)
        if probe is None:
            return ProbeResult.INCONCLUSIVE
        sqls, parameters = probe
        run = self.runner.run(self.target, sqls, parameters, self.deadlines)
        self.progress.stats = self.progress.stats + run.stats
        result = run.result
        if isinstance(result, Refused):
            # A one-row request refused: the refusal was not about the rows' size.
            return ProbeResult.FAILED
        if not isinstance(result, Ran):
            return ProbeResult.INCONCLUSIVE
        outcome = result.outcome
        if outcome.status is StatementStatus.FINISHED:
            log.error(
                "the probe's rollback SELECT succeeded on target %s: a probe row (message id "
                "%s) may have been kept",
                self.target.name,
                PROBE_MESSAGE_ID,
            )
            return ProbeResult.INCONCLUSIVE
        if outcome.status is not StatementStatus.FAILED or outcome.failed_part is None:
            return ProbeResult.INCONCLUSIVE
        return ProbeResult.PASSED if probe_passed(outcome.failed_part) else ProbeResult.FAILED


def open_with_claims(
    transaction: Transaction, layout: TableLayout, *, lock: bool
) -> tuple[Transaction, ...]:
    """The transaction opened by the claim of its rows (claim.py); halved until the claim
    fits one statement."""
    named = {value: name for name, value in reversed(transaction.parameters)}
    rows = transaction.rows
    try:
        # Each record's id already travels as its INSERT's message-id parameter.
        opened = claim(layout, rows, [named[r.record_id] for r in rows], lock=lock)
    except ClaimTooLarge:
        statements = transaction.statements
        if len(statements) == 1:
            raise  # one INSERT cannot carry more records than a claim can name
        middle = len(statements) // 2
        halves = (statements[:middle], statements[middle:])
        return tuple(
            c
            for half in halves
            for c in open_with_claims(transaction.with_statements(half), layout, lock=lock)
        )
    return (transaction.with_claim(opened),)


def _judge_suspects(progress: _Progress) -> dict[str, Fate]:
    """Suspects are refused by the database once the failure is shown to be theirs: the probe
    (the same INSERT shape on known-good values) passed. Otherwise they come back."""
    if progress.probe is ProbeResult.PASSED:
        return {
            m: Fate(FateKind.REFUSED_BY_DATABASE, error, statement_id)
            for m, (error, statement_id) in progress.suspects.items()
        }
    return {
        m: Fate(FateKind.RETURNED, f"statement-level failure, not the rows': {error}", statement_id)
        for m, (error, statement_id) in progress.suspects.items()
    }
