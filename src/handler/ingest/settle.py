"""What becomes of each record once every target has answered: done, a letter, or a retry.

A pure function of the validated rows and the targets' outcomes, so its rules are tested with
a table of cases and no AWS at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ingest.fates import PENDING, FateKind, TargetOutcome
from ingest.records import Reason

# When a record's fates differ across its targets, the first of these kinds that any target
# gave decides (the first such target, in the targets' order): a target that may still take it
# brings the record back; of the refusals, the one an operator acts on first.
_DECIDING = (
    FateKind.RETURNED,
    FateKind.TABLE_CHANGED,
    FateKind.IMPOSTOR,
    FateKind.TOO_LARGE,
    FateKind.REFUSED_BY_TABLE,
    FateKind.REFUSED_BY_DATABASE,
)
_LETTER_REASONS = {
    FateKind.TOO_LARGE: Reason.RECORD_TOO_LARGE,
    FateKind.REFUSED_BY_DATABASE: Reason.REJECTED_BY_DATABASE,
}


class Outcome(StrEnum):
    DEAD_LETTERED = "dead_lettered"
    RETURNED = "returned"


@dataclass(frozen=True)
class Letter:
    """A record for the dead-letter queue, and the targets that do not hold it."""

    message_id: str
    reason: Reason
    detail: str
    failed_targets: tuple[str, ...]


@dataclass(frozen=True)
class HandBack:
    """A record handed back to SQS, with the first reason a target gave."""

    message_id: str
    reason: str
    target: str | None = None
    statement_id: str | None = None


@dataclass(frozen=True)
class Owed:
    """A record sent to the targets: its delivery's id and the targets still owed it."""

    message_id: str
    targets: frozenset[str] | None  # None: every target
    receive_count: int = 1  # SQS's ApproximateReceiveCount of this delivery


@dataclass(frozen=True)
class Settlement:
    letters: tuple[Letter, ...]
    handed_back: tuple[HandBack, ...]


def settle(
    rows: Sequence[Owed],
    outcomes: Sequence[TargetOutcome],
    all_targets: Sequence[str],
    max_receive_count: int | None = None,
) -> Settlement:
    """A record is done only when every target it is owed holds it (now or from before).

    One that some target must still take comes back (targets that took it will find it held on
    redelivery); one that a target refuses, or that no statement can carry, is a letter naming
    the targets that lack it, so a redrive writes there only. On its last receive (the source
    queue's `max_receive_count`) a record that would come back is a letter instead: SQS would
    otherwise move it to the dead-letter queue itself, without a reason or `failed_targets`,
    and a redrive would write it again to the targets that hold it.
    """
    by_target = {outcome.target: outcome for outcome in outcomes}
    letters: list[Letter] = []
    handed_back: list[HandBack] = []
    for row in rows:
        owed = [t for t in all_targets if row.targets is None or t in row.targets]
        answers = [by_target[t] for t in owed if t in by_target]
        decision = _decide(row, owed, answers)
        if (
            isinstance(decision, HandBack)
            and max_receive_count is not None
            and row.receive_count >= max_receive_count
        ):
            decision = _last_receive(row, decision, owed, answers, max_receive_count)
        if isinstance(decision, Letter):
            letters.append(decision)
        elif decision is not None:
            handed_back.append(decision)
    return Settlement(tuple(letters), tuple(handed_back))


def _decide(row: Owed, owed: list[str], answers: list[TargetOutcome]) -> Letter | HandBack | None:
    """The record's fates across its targets, read in one order of precedence."""
    message_id = row.message_id
    lacking = tuple(
        t for t in owed if not any(a.target == t and a.holds(message_id) for a in answers)
    )
    fates = [
        (_DECIDING.index(fate.kind), position, answer.target, fate)
        for position, answer in enumerate(answers)
        if (fate := answer.fates.get(message_id)) is not None and fate.kind in _DECIDING
    ]
    if not fates:
        # A target owed the record gave no answer for it: never silently dropped.
        return HandBack(message_id, "no outcome from the target", lacking[0]) if lacking else None
    _, _, target, fate = min(fates, key=lambda f: f[:2])
    if fate.kind in PENDING:
        return HandBack(message_id, fate.reason, target, fate.statement_id)
    if fate.kind is FateKind.IMPOSTOR:
        where = ", ".join(t for _, _, t, f in fates if f.kind is FateKind.IMPOSTOR)
        detail = f"original_message_id names a different record in {where}"
        return Letter(message_id, Reason.INVALID_REDRIVE, detail, lacking)
    reason = fate.rule if fate.rule is not None else _LETTER_REASONS[fate.kind]
    return Letter(message_id, reason, fate.reason, lacking)


def _last_receive(
    row: Owed,
    retry: HandBack,
    owed: list[str],
    answers: list[TargetOutcome],
    max_receive_count: int,
) -> Letter:
    holding = {a.target for a in answers if a.holds(row.message_id)}
    lacking = tuple(t for t in owed if t not in holding)
    where = f" ({retry.target})" if retry.target else ""
    detail = (
        f"still failing on receive {row.receive_count} of {max_receive_count}{where}: "
        f"{retry.reason}"
    )
    return Letter(row.message_id, Reason.RECEIVES_EXHAUSTED, detail, lacking)
