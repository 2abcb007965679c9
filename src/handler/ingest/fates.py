"""One ledger per target: what became of each record sent there, recorded once where it is
decided (writer.py, batch.py), read by settle.py across targets, counted by telemetry.py.

A record's fate in one target is one of a few kinds; the kinds a target may still take (the
record comes back) and those it never will (a letter) are told apart by `FateKind` alone, so
a new per-target count is a count of fates, not a new collection to thread through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ingest.records import Reason
from ingest.statement_runner import StatementStats


class FateKind(StrEnum):
    WRITTEN = "written"  # its statement FINISHED in this invocation
    HELD = "held"  # the target held it already (a redelivery, a redrive, a claim's check)
    IMPOSTOR = "impostor"  # redriven under an id the target holds for a different record
    TOO_LARGE = "too_large"  # alone larger than a statement may be
    REFUSED_BY_TABLE = "refused_by_table"  # the table's own rules (layout validation)
    REFUSED_BY_DATABASE = "refused_by_database"  # failed alone, the probe having passed
    RETURNED = "returned"  # handed back to SQS, with the target's reason
    # Handed back because the table changed under the write: read again for the table as it
    # is now (batch.py), never dead-lettered for the change itself.
    TABLE_CHANGED = "table_changed"


# The target holds the record: nothing more is owed there.
HOLDS = frozenset({FateKind.WRITTEN, FateKind.HELD})
# The target may still take it: the record comes back.
PENDING = frozenset({FateKind.RETURNED, FateKind.TABLE_CHANGED})


@dataclass(frozen=True)
class Fate:
    kind: FateKind
    reason: str = ""  # why, for a record not written: masked before it is logged
    statement_id: str | None = None
    rule: Reason | None = None  # REFUSED_BY_TABLE: the rule the table's layout applied


WRITTEN = Fate(FateKind.WRITTEN)
HELD = Fate(FateKind.HELD)
IMPOSTOR = Fate(FateKind.IMPOSTOR, "original_message_id names a different record")
TOO_LARGE = Fate(
    FateKind.TOO_LARGE, "record alone exceeds the statement size budget (STATEMENT_MAX_BYTES)"
)


@dataclass(frozen=True)
class WriteCounts:
    """What writing to one target cost, beside the fates."""

    stats: StatementStats = field(default_factory=StatementStats)
    bisection_steps: int = 0
    transactions: int = 0  # committed
    dropped_fields: int = 0  # payload fields the table had no column (and no overflow) for
    unconfirmed: tuple[str, ...] = ()  # names or ids of statements that may still run

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.stats + other.stats,
            self.bisection_steps + other.bisection_steps,
            self.transactions + other.transactions,
            self.dropped_fields + other.dropped_fields,
            self.unconfirmed + other.unconfirmed,
        )


@dataclass(frozen=True)
class TargetOutcome:
    """One target's ledger: each record's fate (by SQS message id) and what it cost."""

    target: str
    fates: Mapping[str, Fate] = field(default_factory=dict)
    counts: WriteCounts = field(default_factory=WriteCounts)

    def ids(self, *kinds: FateKind) -> frozenset[str]:
        return frozenset(m for m, fate in self.fates.items() if fate.kind in kinds)

    def of(self, *kinds: FateKind) -> dict[str, Fate]:
        return {m: fate for m, fate in self.fates.items() if fate.kind in kinds}

    def holds(self, message_id: str) -> bool:
        fate = self.fates.get(message_id)
        return fate is not None and fate.kind in HOLDS

    def then(self, later: TargetOutcome, redone: Iterable[str]) -> TargetOutcome:
        """This ledger after `redone` records were written again (`later`): their fates are
        the later ones; what both writes cost adds up."""
        again = set(redone)
        kept = {m: f for m, f in self.fates.items() if m not in again}
        return TargetOutcome(self.target, {**kept, **later.fates}, self.counts + later.counts)

    def with_fates(self, fates: Mapping[str, Fate]) -> TargetOutcome:
        return TargetOutcome(self.target, {**self.fates, **fates}, self.counts)

    def with_counts(self, counts: WriteCounts) -> TargetOutcome:
        return TargetOutcome(self.target, self.fates, self.counts + counts)

    # Read-only views, for the counts and for tests.
    @property
    def written(self) -> frozenset[str]:
        return self.ids(FateKind.WRITTEN)

    @property
    def already_held(self) -> frozenset[str]:
        return self.ids(FateKind.HELD)

    @property
    def impostors(self) -> frozenset[str]:
        return self.ids(FateKind.IMPOSTOR)

    @property
    def oversized(self) -> frozenset[str]:
        return self.ids(FateKind.TOO_LARGE)

    @property
    def rejected(self) -> dict[str, str]:
        return {m: f.reason for m, f in self.of(FateKind.REFUSED_BY_DATABASE).items()}

    @property
    def invalid(self) -> dict[str, Fate]:
        return self.of(FateKind.REFUSED_BY_TABLE)

    @property
    def returned(self) -> dict[str, Fate]:
        return self.of(*PENDING)

    @property
    def table_changed(self) -> bool:
        return any(f.kind is FateKind.TABLE_CHANGED for f in self.fates.values())

    @property
    def stats(self) -> StatementStats:
        return self.counts.stats

    @property
    def unconfirmed(self) -> tuple[str, ...]:
        return self.counts.unconfirmed
