"""Claims (claim.py): records a target may already hold are written in transactions that lock
the table and check for them first, so two invocations writing one record (two letters of it
redriven at once, a lost dead-letter reply) store it once (issue 18)."""

from __future__ import annotations

from dataclasses import replace

from ingest.claim import CHECK_SQL_START
from ingest.fates import TargetOutcome
from ingest.records import Row
from ingest.sql import InsertRenderer
from ingest.wiring import Timing, deadlines_for
from ingest.writer import CLAIM_CHECK_BUDGET, TargetWriter
from tests.unit.fakes import GUARD_SQL_START, FakeClock, FakeDataApi, FakeStatement
from tests.unit.test_writer import (
    SETTINGS,
    TARGET,
    UNCHANGING,
    ids,
    renderer,
    rows,
    writer,
)

PERMISSION_DENIED = "ERROR: permission denied for relation appsflyer_events"


def claiming() -> InsertRenderer:
    """The renderer the function builds (wiring.transaction_limits): guarded, claiming."""
    plain = renderer()
    return InsertRenderer(plain.layout, replace(plain.limits, guarded=True, claims=True))


def write_claimed(
    fake: FakeDataApi, batch: list[Row], clock: FakeClock | None = None
) -> TargetOutcome:
    clock = clock or FakeClock()
    return write_with(writer(fake, clock), clock, batch)


def redriven(batch: list[Row]) -> list[Row]:
    """The rows as letters redriven from the dead-letter queue (original_message_id set)."""
    return [row._replace(redriven=True) for row in batch]


def batches(fake: FakeDataApi) -> list[FakeStatement]:
    return [s for s in fake.statements if any(sql.startswith("INSERT") for sql in s.sqls)]


def test_a_first_delivery_takes_no_lock_and_a_redelivery_is_claimed() -> None:
    fake = FakeDataApi()
    first = write_claimed(fake, rows(3))
    again = write_claimed(fake, rows(2, receive_count=2))
    assert first.written == ids(0, 1, 2)
    assert again.already_held == ids(0, 1)  # the look-up found them: nothing sent
    fresh = FakeDataApi()
    redelivered = write_claimed(fresh, rows(2, receive_count=2))
    assert redelivered.written == ids(0, 1)
    [unclaimed] = batches(fake)
    assert not any(sql.startswith(("LOCK", CHECK_SQL_START)) for sql in unclaimed.sqls)
    [claimed] = batches(fresh)
    # A redelivery: the guard, then the check, no LOCK (it would wait for every reader)
    assert claimed.sqls[0].startswith(GUARD_SQL_START)
    assert claimed.sqls[1].startswith(CHECK_SQL_START)
    assert all(sql.startswith("INSERT") for sql in claimed.sqls[2:])
    # A redrive: the LOCK first (before any SELECT makes the snapshot), the guard, the check
    locked = FakeDataApi()
    assert write_claimed(locked, redriven(rows(2))).written == ids(0, 1)
    [claimed] = batches(locked)
    assert claimed.sqls[0] == 'LOCK "public"."appsflyer_events"'
    assert claimed.sqls[1].startswith(GUARD_SQL_START)
    assert claimed.sqls[2].startswith(CHECK_SQL_START)
    assert all(sql.startswith("INSERT") for sql in claimed.sqls[3:])
    # The check names the ids through the INSERT's own parameters: none is added but the
    # sort-key window's two.
    assert {n[0] for n in claimed.parameters} <= {"p", "g", "c"}
    assert sum(n.startswith("c") for n in claimed.parameters) == 2


def test_a_record_another_invocation_wrote_after_the_look_up_is_not_written_again() -> None:
    # Given two invocations with the same redriven record: the second writes it completely
    # between the first one's presence look-up and its transaction
    fake = FakeDataApi()
    clock = FakeClock()
    batch = rows(3, receive_count=2)
    interleaved: list[bool] = []

    def the_other_invocation_writes(statement: FakeStatement) -> None:
        if statement.sql.startswith("SELECT DISTINCT") and not interleaved:
            interleaved.append(True)
            done = write_claimed(fake, [batch[1]])
            assert done.written == ids(1)

    fake.on_execute = the_other_invocation_writes
    # When the first invocation writes all three
    result = write_claimed(fake, batch, clock)
    # Then its claim's check fails, the target is asked again, and record 1 is taken as held
    assert interleaved
    assert result.written == ids(0, 2)
    assert result.already_held == ids(1)
    stored = [str(row["sqs_message_id"]) for row in fake.written_rows("c1")]
    assert sorted(stored) == ["m-000", "m-001", "m-002"]  # each once


def test_without_the_claim_the_interleaving_stores_a_record_twice() -> None:
    """The same interleaving through a renderer that does not claim (the design before issue
    18): the record is stored twice, so the test above can fail."""
    fake = FakeDataApi()
    batch = rows(2, receive_count=2)
    done: list[bool] = []

    def the_other_invocation_writes(statement: FakeStatement) -> None:
        if statement.sql.startswith("SELECT DISTINCT") and not done:
            done.append(True)
            write_claimed(fake, [batch[0]])

    fake.on_execute = the_other_invocation_writes
    claimed = claiming()
    unclaimed = InsertRenderer(claimed.layout, replace(claimed.limits, claims=False))
    clock = FakeClock()
    write_with(writer(fake, clock), clock, batch, unclaimed)
    stored = [str(row["sqs_message_id"]) for row in fake.written_rows("c1")]
    assert sorted(stored) == ["m-000", "m-000", "m-001"]


def test_a_lock_the_target_refuses_is_dropped_and_the_check_stays() -> None:
    fake = FakeDataApi(lock_error=PERMISSION_DENIED)
    clock = FakeClock()
    the_writer = writer(fake, clock)
    first = write_with(the_writer, clock, redriven(rows(2)))
    assert first.written == ids(0, 1)
    assert not the_writer.locks(TARGET.name)
    # The next write on the same container sends no LOCK, and still checks
    fake.lock_error = None
    write_with(the_writer, clock, redriven(rows(4)[2:]))
    last = batches(fake)[-1]
    assert not any(sql.startswith("LOCK") for sql in last.sqls)
    assert any(sql.startswith(CHECK_SQL_START) for sql in last.sqls)


def test_a_check_that_keeps_failing_gives_the_records_back() -> None:
    # Given a check that always finds something while the look-up finds nothing (no real
    # target answers so: it spends the budget)
    fake = FakeDataApi()
    batch = rows(2, receive_count=2)
    fake._claimed_rows_held = lambda target, check: True  # type: ignore[method-assign]
    result = write_claimed(fake, batch)
    assert set(result.returned) == ids(0, 1)
    assert not result.written
    checks = [s for s in batches(fake) if any(q.startswith(CHECK_SQL_START) for q in s.sqls)]
    assert len(checks) == CLAIM_CHECK_BUDGET + 1


def write_with(
    the_writer: TargetWriter,
    clock: FakeClock,
    batch: list[Row],
    the_renderer: InsertRenderer | None = None,
) -> TargetOutcome:
    """One write on a writer kept across writes (one container's life)."""
    deadlines = deadlines_for(SETTINGS, 60, Timing(clock, clock.sleep))
    return the_writer.write(TARGET, the_renderer or claiming(), batch, deadlines, UNCHANGING)


def test_parts_of_a_claimed_transaction_are_claimed_again_after_a_split() -> None:
    """A claimed transaction bisected around a bad row: each part sent is claimed for its own
    records (the attack found the parts sent unclaimed, and two concurrent redrives of the
    same letters then stored every good record twice)."""
    fake = FakeDataApi(poison={"POISON-3"})
    claimed = claiming()
    # One row per INSERT: the failing INSERT is split from the others (with_statements)
    small = InsertRenderer(claimed.layout, replace(claimed.limits, max_bytes=3_000))
    clock = FakeClock()
    result = write_with(writer(fake, clock), clock, redriven(rows(8, {3})), small)
    assert result.written == ids(*range(8)) - ids(3)
    sent_batches = [s for s in batches(fake) if "SELECT 1 / 0" not in s.sqls]
    assert len(sent_batches) > 1
    for sent in sent_batches:
        if len(sent.sqls) > 1:
            assert sent.sqls[0].startswith("LOCK "), sent.sqls[0][:40]
            assert any(sql.startswith(CHECK_SQL_START) for sql in sent.sqls)


def test_a_claimed_failure_naming_no_sql_asks_the_target_before_bisecting() -> None:
    # Given a service that names no failed SQL, and a record another invocation wrote
    fake = FakeDataApi(describe_sub_statements=False)
    batch = redriven(rows(3, receive_count=2))
    done: list[bool] = []

    def the_other_invocation_writes(statement: FakeStatement) -> None:
        if statement.sql.startswith("SELECT DISTINCT") and not done:
            done.append(True)
            write_claimed(fake, [batch[1]])

    fake.on_execute = the_other_invocation_writes
    result = write_claimed(fake, batch)
    # Then the record is taken as held, the others written: none twice
    assert result.already_held == ids(1)
    assert result.written == ids(0, 2)
    stored = sorted(str(row["sqs_message_id"]) for row in fake.written_rows("c1"))
    assert stored == ["m-000", "m-001", "m-002"]
