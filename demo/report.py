"""What the demo saw per batch and at the end, whether it adds up, and how it is printed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from demo.runtime import DeadLetterSeen, Invocation

LABEL = 18  # width of the label column
DETAIL_MAX = 80  # reason_detail is up to 1,024 characters: the demo shows the start
LINE_MAX = 100  # a line that would be longer goes on in the next


@dataclass(frozen=True)
class PlacementSeen:
    """Where one payload field's values were found in every target (streams.Placement)."""

    field: str
    place: str
    why: str
    records_of: str | None  # another event file's records, looked at again; None: the batch's
    records: int  # good records carrying the field
    wrong: dict[str, list[str]]  # per target: message ids whose value is not (only) there

    def ok(self) -> bool:
        """A field no record carries proves nothing: that is a problem too."""
        return self.records > 0 and not any(self.wrong.values())

    def failure(self) -> str:
        if self.records == 0:
            return "no good record carries the field"
        wrong = ", ".join(f"{len(ids)} in {target}" for target, ids in self.wrong.items() if ids)
        return f"of {self.records} records, not there (or also elsewhere): {wrong}"


@dataclass(frozen=True)
class BatchOutcome:
    """One event file's trip through the handler, seen from outside it."""

    file: str
    title: str
    targets: tuple[str, ...]
    received: list[str]  # unique message ids, in event order
    invocation: Invocation
    rows_added: dict[str, int]  # per target: rows for these ids, after minus before
    in_every_target: set[str]  # of these ids, the ones every target's table holds now
    dead_letters: list[DeadLetterSeen]
    expected_dead_letters: dict[str, str]  # message id -> reason, from expected-outcomes.json
    redelivered: int  # records SQS had delivered before: the handler asks each target about them
    held_before: dict[str, int]  # per target: redelivered ids its table held before the batch
    fault: str | None = None  # what was injected; may span lines
    notes: tuple[str, ...] = ()  # what the batch shows
    expected_source: str = "expected-outcomes.json"  # where expected_dead_letters come from
    table_change: str | None = None  # what the demo did to the table before the batch
    placements: tuple[PlacementSeen, ...] = ()

    @property
    def returned(self) -> set[str]:
        return set(self.invocation.retry_ids)

    @property
    def dead_lettered(self) -> set[str]:
        return {letter.message_id for letter in self.dead_letters}

    @property
    def written_everywhere(self) -> set[str]:
        return set(self.received) & self.in_every_target - self.dead_lettered - self.returned

    def accounted(self) -> bool:
        """Counts, not set sizes after the fact: an id in two places, or none, breaks the sum."""
        total = len(self.written_everywhere) + len(self.dead_lettered) + len(self.returned)
        known = self.dead_lettered | self.returned
        return total == len(self.received) and known <= set(self.received)

    def handler_rows(self) -> dict[str, int] | None:
        if self.invocation.summary is None:
            return None
        rows: dict[str, int] = self.invocation.summary.get("rows_written", {})
        return {target: int(rows.get(target, 0)) for target in self.targets}

    def already_present(self) -> dict[str, int] | None:
        """Per target: redelivered records the handler found already there, so did not write."""
        if self.invocation.summary is None:
            return None
        present: dict[str, int] = self.invocation.summary.get("rows_already_present", {})
        return {target: int(present.get(target, 0)) for target in self.targets}

    def problems(self) -> list[str]:
        found: list[str] = []
        if not self.accounted():
            found.append(f"{self.file}: records do not add up ({self.accounting_text()})")
        both = self.dead_lettered & self.in_every_target
        if both:
            found.append(f"{self.file}: dead-lettered yet in every target: {sorted(both)}")
        handler_rows = self.handler_rows()
        if handler_rows is None:
            found.append(f"{self.file}: the handler logged no 'batch processed' summary")
        elif handler_rows != self.rows_added:
            found.append(
                f"{self.file}: handler reported rows {handler_rows}, "
                f"PostgreSQL gained {self.rows_added}"
            )
        already_present = self.already_present()
        if already_present is not None and already_present != self.held_before:
            found.append(
                f"{self.file}: handler found {already_present} already present, "
                f"PostgreSQL held {self.held_before} before the batch"
            )
        if not self.dead_letters_as_expected():
            found.append(
                f"{self.file}: dead letters {self.dead_letter_reasons()} differ from "
                f"{self.expected_source} {self.expected_dead_letters}"
            )
        for seen in self.placements:
            if not seen.ok():
                of = f" (records of {seen.records_of})" if seen.records_of else ""
                found.append(f"{self.file}: {seen.field} -> {seen.place}{of}: {seen.failure()}")
        if self.table_change is not None and self.tables_changed() != set(self.targets):
            found.append(
                f"{self.file}: the table was changed, but the handler logged reading the change "
                f"in {sorted(self.tables_changed()) or 'no target'}"
            )
        return found

    def tables_changed(self) -> set[str]:
        """Targets whose table the handler found changed during this batch."""
        return {
            str(read.get("target"))
            for read in self.invocation.table_reads
            if read.get("message") == "target table changed"
        }

    def dead_letter_reasons(self) -> dict[str, str]:
        return {letter.message_id: letter.reason for letter in self.dead_letters}

    def dead_letters_as_expected(self) -> bool:
        return self.dead_letter_reasons() == self.expected_dead_letters

    def accounting_text(self) -> str:
        parts = (len(self.written_everywhere), len(self.dead_lettered), len(self.returned))
        text = (
            f"{parts[0]} written to every target + {parts[1]} dead-lettered + "
            f"{parts[2]} returned = {sum(parts)}"
        )
        if sum(parts) == len(self.received):
            return f"{text} received"
        return f"{text}, but {len(self.received)} received"


def per_target(values: Mapping[str, object], targets: Iterable[str], sign: str = "") -> str:
    return " | ".join(f"{target} {sign}{values.get(target, 0)}" for target in targets)


def line(label: str, text: str) -> str:
    return f"  {label:<{LABEL}}{text}"


def labelled(label: str, texts: Iterable[str]) -> list[str]:
    """The label on the first line only."""
    return [line(label if i == 0 else "", text) for i, text in enumerate(texts)]


def render_batch(outcome: BatchOutcome, index: int, total: int) -> list[str]:
    lines = [f"[{index}/{total}] {outcome.file}: {outcome.title}"]
    lines.extend(labelled("shows", outcome.notes))
    if outcome.fault:
        lines.extend(labelled("fault injected", outcome.fault.splitlines()))
    if outcome.table_change:
        lines.extend(labelled("while running", outcome.table_change.splitlines()))
    lines.append(
        line("records in", f"{len(outcome.received)}  ({outcome.invocation.seconds:.2f} s)")
    )
    lines.extend(_table_read_lines(outcome))
    lines.extend(_already_present_lines(outcome))
    lines.extend(_rows_lines(outcome))
    lines.extend(_dead_letter_lines(outcome))
    lines.extend(_retry_lines(outcome))
    lines.extend(_placement_lines(outcome))
    verdict = "OK" if outcome.accounted() else "DOES NOT ADD UP"
    lines.append(line("accounted for", f"{outcome.accounting_text()}  {verdict}"))
    return lines


def _table_read_lines(outcome: BatchOutcome) -> list[str]:
    """When the handler read a table from its catalog (first use, refresh), per finding."""
    targets_by_finding: dict[tuple[str, str], list[str]] = {}
    for read in outcome.invocation.table_reads:
        if read.get("message") == "target table read":
            label = "table read"
            finding = f"{read.get('columns')} columns to write"
        else:
            label = "table re-read"
            changes = [
                f"{what} {', '.join(read.get(what) or [])}"
                for what in ("added", "removed", "retyped")
                if read.get(what)
            ]
            finding = "; ".join(changes) or "changed"
        key = (label, f"{read.get('table')}, {finding}")
        targets_by_finding.setdefault(key, []).append(str(read.get("target")))
    # Each read is one catalog query: a statement in the counts below.
    return [
        line(label, f"{', '.join(sorted(targets))}: {finding}  (a catalog query each)")
        for (label, finding), targets in targets_by_finding.items()
    ]


def _already_present_lines(outcome: BatchOutcome) -> list[str]:
    """Only for batches with redelivered records: first deliveries are not looked up."""
    present = outcome.already_present()
    if not outcome.redelivered and not any((present or {}).values()):
        return []
    if present is None:
        return [line("already present", "no summary logged")]
    match = "matches" if present == outcome.held_before else "DIFFERS"
    counts = ", ".join(f"{count} in {target}" for target, count in present.items())
    return labelled(
        "already present",
        (
            f"{counts}  (asked the target; not written again)",
            f"of {outcome.redelivered} redelivered (PostgreSQL held them before: {match})",
        ),
    )


def _rows_lines(outcome: BatchOutcome) -> list[str]:
    handler_rows = outcome.handler_rows()
    reported = (
        "no summary logged" if handler_rows is None else per_target(handler_rows, outcome.targets)
    )
    match = "matches" if handler_rows == outcome.rows_added else "DIFFERS"
    lines = [
        line("rows written", f"{reported}  (handler's report)"),
        line(
            "rows in database",
            f"{per_target(outcome.rows_added, outcome.targets, '+')}  "
            f"(PostgreSQL, by sqs_message_id: {match})",
        ),
    ]
    summary = outcome.invocation.summary or {}
    if "statements_submitted" in summary:
        lines.append(
            line(
                "statements",
                f"{per_target(summary['statements_submitted'], outcome.targets)}"
                "  (accepted by the Data API)",
            )
        )
    return lines


def _dead_letter_lines(outcome: BatchOutcome) -> list[str]:
    if not outcome.dead_letters:
        return [line("dead-lettered", "0")]
    expected = outcome.dead_letters_as_expected()
    note = f"as in {outcome.expected_source}" if expected else "NOT as expected"
    lines = [
        line(
            "dead-lettered",
            f"{len(outcome.dead_letters)}  (reason, detail from the DLQ: {note})",
        )
    ]
    every_target = set(outcome.targets)
    for letter in sorted(outcome.dead_letters, key=lambda d: d.reason):
        # Dead letters name the targets they owe; only a subset of them is worth showing.
        owed = set((letter.failed_targets or "").split(",")) - {""}
        targets = f" [failed_targets={letter.failed_targets}]" if owed < every_target else ""
        lines.append(
            f"    {letter.message_id[:8]}  {letter.reason:<24}{_shorten(letter.detail)}{targets}"
        )
    return lines


def _retry_lines(outcome: BatchOutcome) -> list[str]:
    if not outcome.returned:
        return [line("back for retry", "0")]
    lines = [line("back for retry", f"{len(outcome.returned)}  (batchItemFailures)")]
    if outcome.invocation.raised:
        lines.append(f"    the handler raised {outcome.invocation.raised}")
    reasons = Counter(
        (str(failure.get("target") or "-"), str(failure.get("reason", "?")))
        for failure in outcome.invocation.failures
        if failure.get("outcome") == "returned"
    )
    for (target, reason), count in reasons.most_common():
        lines.append(f"    {count} x {target}: {_shorten(reason)}")
    return lines


def _placement_lines(outcome: BatchOutcome) -> list[str]:
    if not outcome.placements:
        return []
    lines = [line("fields landed", "in every target, for each good record carrying the field:")]
    width = max(len(f"{seen.field} -> {seen.place}") for seen in outcome.placements)
    for seen in outcome.placements:
        route = f"{seen.field} -> {seen.place}"
        verdict = (
            "OK"
            if seen.ok()
            else "WRONG in "
            + per_target({t: len(ids) for t, ids in seen.wrong.items()}, outcome.targets)
        )
        why = f"{seen.records_of}: {seen.why}" if seen.records_of else seen.why
        text = f"    {route:<{width}}  {seen.records:>2} records  {verdict}"
        if len(f"{text}  {why}") <= LINE_MAX:
            lines.append(f"{text}  {why}")
        else:
            lines.extend((text, f"    {'':<{width}}  ({why})"))
    return lines


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DETAIL_MAX else flat[: DETAIL_MAX - 3] + "..."


@dataclass(frozen=True)
class FinalState:
    """Where every distinct record of one table ended after its last batch."""

    table: str
    targets: tuple[str, ...]
    rows: dict[str, dict[str, int]]  # target -> message id -> rows
    seen: list[str]  # distinct message ids over all batches, in first-seen order
    dead_lettered: set[str]
    awaiting_retry: set[str]  # last delivery returned them; SQS would deliver them again
    expected_dead_letters: set[str]
    deliveries: int
    batches: int
    already_present: dict[str, int]  # per target, over all batches: found there, not rewritten
    dead_letters_by_file: dict[str, int] = field(default_factory=dict)

    def in_every_target(self) -> set[str]:
        held = [set(self.rows[target]) for target in self.targets]
        return set.intersection(*held) if held else set()

    def written(self) -> set[str]:
        return set(self.seen) & self.in_every_target() - self.dead_lettered - self.awaiting_retry

    def duplicates(self, target: str) -> dict[str, int]:
        return {mid: count for mid, count in self.rows[target].items() if count > 1}

    def expected_rows(self) -> int:
        return len(set(self.seen) - self.expected_dead_letters)

    def accounted(self) -> bool:
        total = len(self.written()) + len(self.dead_lettered) + len(self.awaiting_retry)
        return total == len(self.seen)

    def problems(self) -> list[str]:
        where = f"final {self.table}"
        found: list[str] = []
        if not self.accounted():
            found.append(f"{where}: records do not add up ({self.accounting_text()})")
        both = self.dead_lettered & self.in_every_target()
        if both:
            found.append(f"{where}: dead-lettered yet in every target: {sorted(both)}")
        for target in self.targets:
            rows = sum(self.rows[target].values())
            if rows != self.expected_rows():
                found.append(
                    f"{where}: {target} holds {rows} rows, expected {self.expected_rows()}"
                )
            if self.duplicates(target):
                found.append(f"{where}: {target} has duplicates {self.duplicates(target)}")
            strays = set(self.rows[target]) - set(self.seen)
            if strays:
                found.append(f"{where}: {target} holds rows of unknown messages {sorted(strays)}")
        return found

    def accounting_text(self) -> str:
        return (
            f"{len(self.written())} in every target + {len(self.dead_lettered)} dead-lettered + "
            f"{len(self.awaiting_retry)} awaiting redelivery = "
            f"{len(self.written()) + len(self.dead_lettered) + len(self.awaiting_retry)}"
        )


def render_final(final: FinalState) -> list[str]:
    lines = [f"Final state of {final.table}"]
    for target in final.targets:
        rows = final.rows[target]
        duplicates = final.duplicates(target)
        dup_text = "none" if not duplicates else f"{len(duplicates)} message ids: {duplicates}"
        lines.append(
            line(
                target,
                f"{sum(rows.values())} rows, {len(rows)} distinct sqs_message_id, "
                f"duplicates (count > 1): {dup_text}",
            )
        )
    by_file = ", ".join(
        f"{count} from {name}" for name, count in final.dead_letters_by_file.items()
    )
    lines.append(
        line("dead-letter queue", f"{len(final.dead_lettered)} messages ({by_file or '-'})")
    )
    present = ", ".join(f"{final.already_present.get(t, 0)} in {t}" for t in final.targets)
    lines.append(line("already present", f"{present}  (found on redelivery: not written twice)"))
    expected_ok = all(sum(final.rows[t].values()) == final.expected_rows() for t in final.targets)
    verdict = "OK" if expected_ok else "MISMATCH"
    lines.append(
        line(
            "expected",
            f"{final.expected_rows()} rows per target: {len(final.seen)} distinct records minus "
            f"{len(final.expected_dead_letters)} poison ones  {verdict}",
        )
    )
    lines.append(
        line(
            "deliveries",
            f"{final.deliveries} records in {final.batches} batches, "
            f"{len(final.seen)} distinct (redelivered ones count once)",
        )
    )
    if final.accounted():
        lines.append(f"all {len(final.seen)} records accounted for: {final.accounting_text()}")
    else:
        lines.append(f"NOT all {len(final.seen)} records accounted for: {final.accounting_text()}")
    return lines


def last_outcomes(batches: Sequence[BatchOutcome]) -> set[str]:
    """Ids whose latest delivery was returned for retry (and not delivered again since)."""
    pending: set[str] = set()
    for batch in batches:
        pending -= set(batch.received)
        pending |= batch.returned
    return pending
