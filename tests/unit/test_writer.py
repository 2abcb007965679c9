"""The per-target writer: retries, lost replies, bisection to the guilty rows, deadlines."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ingest.config import Settings, Target
from ingest.deadline import Deadline, Deadlines
from ingest.fates import TargetOutcome
from ingest.probe import PROBE_MESSAGE_ID, ROLLBACK_SQL
from ingest.records import Row, SqsMessage
from ingest.sql import InsertRenderer, Limits
from ingest.wiring import Clients, Timing, build_ingest, deadlines_for
from ingest.writer import TargetWriter
from local.appsflyer import appsflyer_layout, validate
from tests.support import payload
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

TARGET = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")
SETTINGS = Settings(
    targets=(TARGET,),
    table="public.appsflyer_events",
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/1/dlq",
)


def rows(count: int, poisoned: set[int] = frozenset(), receive_count: int = 1) -> list[Row]:  # type: ignore[assignment]
    built = []
    for i in range(count):
        # A poisoned row carries a marker value the fake database refuses.
        city = f"POISON-{i}" if i in poisoned else f"city-{i}"
        row = validate(SqsMessage(f"m-{i:03d}", json.dumps(payload(city=city)), receive_count))
        assert isinstance(row, Row)
        built.append(row)
    return built


def writer(fake: FakeDataApi, clock: FakeClock, settings: Settings = SETTINGS) -> TargetWriter:
    timing = Timing(clock, clock.sleep, lambda: 1.7e9 + clock(), seed=7)
    return build_ingest(settings, Clients(fake, fake, None), timing).writer  # type: ignore[arg-type]


def write(
    fake: FakeDataApi,
    batch: list[Row],
    *,
    seconds: float = 60,
    settings: Settings = SETTINGS,
    clock: FakeClock | None = None,
) -> TargetOutcome:
    clock = clock or FakeClock()
    if seconds == 0:
        deadlines = Deadlines.single(Deadline.after(0, clock))
    else:  # the work, cleanup and hard deadlines the handler derives from `seconds` remaining
        deadlines = deadlines_for(settings, seconds, Timing(clock, clock.sleep))
    return writer(fake, clock, settings).write(
        TARGET, renderer(settings), batch, deadlines, UNCHANGING
    )


class _Unchanging:
    """A table that never changes (catalog reads are tested in test_catalog.py)."""

    def changed(self, target: Target, deadlines: Deadlines) -> bool:
        return False


UNCHANGING = _Unchanging()


def renderer(settings: Settings = SETTINGS) -> InsertRenderer:
    limits = Limits(
        settings.statement_max_bytes,
        settings.statement_max_parameters,
        settings.statements_per_transaction,
    )
    return InsertRenderer(appsflyer_layout(), limits)


def poisoned_fake(*indexes: int) -> FakeDataApi:
    return FakeDataApi(poison={f"POISON-{i}" for i in indexes})


def ids(*indexes: int) -> set[str]:
    return {f"m-{i:03d}" for i in indexes}


def test_clean_rows_are_one_statement() -> None:
    fake = FakeDataApi()
    result = write(fake, rows(10))
    assert result.written == ids(*range(10))
    assert not result.returned
    assert not result.rejected
    assert result.stats.submitted == 1
    assert len(result.stats.durations_ms) == 1
    assert fake.statements[0].name.startswith("sqs-redshift-ingest/primary/")


@pytest.mark.parametrize("guilty", [{0}, {9}, {4}, {2, 7}, {1, 5, 8}])
def test_bisection_isolates_the_guilty_rows(guilty: set[int]) -> None:
    fake = poisoned_fake(*guilty)
    result = write(fake, rows(10, guilty))
    assert set(result.rejected) == ids(*guilty)
    assert result.written == ids(*range(10)) - ids(*guilty)
    assert all("value too long" in e for e in result.rejected.values())
    assert result.counts.bisection_steps >= 1
    assert fake.peak_active["c1"] == 1  # halves go one at a time
    # Each good row landed exactly once.
    landed = [v for v in fake.finished_values("c1") if v.startswith("m-")]
    assert sorted(landed) == sorted(result.written)


def test_one_guilty_row_in_a_large_batch_costs_logarithmic_statements() -> None:
    result = write(poisoned_fake(37), rows(64, {37}))
    assert set(result.rejected) == {"m-037"}
    assert len(result.written) == 63
    assert result.counts.bisection_steps == 6  # log2(64)
    # The first batch, two halves per step, and one probe before the lone row is convicted.
    assert result.stats.submitted == 1 + 2 * 6 + 1


def test_failure_the_target_gives_every_statement_returns_rows_and_dead_letters_none() -> None:
    # Given a target that fails every statement, with a value error's words, values or not
    fake = FakeDataApi(fail_all_error="value too long for type character varying(255)")
    result = write(fake, rows(16))
    # Then at the first single row the probe (the INSERT's shape on known-good values) fails
    # too: the failure is the target's, every row comes back and none is dead-lettered
    assert not result.rejected
    assert set(result.returned) == ids(*range(16))
    assert all("statement-level" in f.reason for f in result.returned.values())
    controls = [s for s in fake.statements if ROLLBACK_SQL in s.sqls]
    assert len(controls) == 1
    singles = [
        s for s in fake.inserts() if sum(v.startswith("m-") for v in s.parameters.values()) == 1
    ]
    assert len(singles) == 1  # it stopped spending statements at once


def test_bad_rows_first_in_a_batch_are_dead_lettered_and_the_good_ones_land() -> None:
    # Given the first three rows carry a value the table refuses, the other five are good
    fake = poisoned_fake(0, 1, 2)
    result = write(fake, rows(8, {0, 1, 2}))
    # Then the control statement answers, so the failures are the rows': letters for them,
    # and bisection goes on to write the good rows
    assert set(result.rejected) == ids(0, 1, 2)
    assert result.written == ids(3, 4, 5, 6, 7)


def test_a_lone_bad_row_is_dead_lettered_once_the_control_statement_answers() -> None:
    fake = poisoned_fake(0)
    result = write(fake, rows(1, {0}))
    assert set(result.rejected) == ids(0)
    # The row's INSERT, then the probe: its INSERT and the SELECT that rolls it back
    assert [s.sqls or (s.sql,) for s in fake.statements][1] == (
        fake.statements[1].sqls[0],
        ROLLBACK_SQL,
    )
    assert [s.sql.split()[0] for s in fake.statements] == ["INSERT", "INSERT"]
    assert PROBE_MESSAGE_ID not in fake.finished_values("c1")  # rolled back, never kept


@pytest.mark.parametrize(
    "error",
    [
        "Assert: value out of range in internal structure",
        "XX000: internal error: malformed tuple",
        "ERROR: could not open relation: value too long",
    ],
)
def test_internal_errors_mentioning_values_never_dead_letter(error: str) -> None:
    fake = FakeDataApi(fail_all_error=error)
    result = write(fake, rows(8))
    assert not result.rejected
    assert set(result.returned) == ids(*range(8))
    # Known internal errors are retried, never bisected; an unknown text may be bisected,
    # but the probe fails too and convicts no row.
    assert result.counts.bisection_steps == (3 if "could not open" in error else 0)


@pytest.mark.parametrize(
    ("code", "counter"),
    [
        ("ActiveStatementsExceededException", "quota_rejections"),
        ("ThrottlingException", "throttles"),
        ("ServiceUnavailable", None),
    ],
)
def test_transient_submit_errors_are_retried(code: str, counter: str | None) -> None:
    fake, clock = (
        FakeDataApi(submit_errors={"c1": [client_error(code), client_error(code)]}),
        FakeClock(),
    )
    result = write(fake, rows(5), clock=clock)
    assert len(result.written) == 5
    assert result.stats.submitted == 1  # refused submits are not statements
    if counter:
        assert getattr(result.stats, counter) == 2
    assert clock() > 1000.0  # it backed off between attempts


def test_retries_are_bounded_then_rows_come_back() -> None:
    errors = [client_error("ActiveStatementsExceededException") for _ in range(10)]
    fake = FakeDataApi(submit_errors={"c1": errors})
    result = write(fake, rows(5), settings=replace(SETTINGS, max_transient_retries=2))
    assert not result.written
    assert set(result.returned) == ids(*range(5))
    assert result.stats.quota_rejections == 3
    assert "quota" in next(iter(result.returned.values())).reason


def test_lost_reply_is_retried_with_the_same_token_and_writes_once() -> None:
    # Given the first submit creates the statement but its reply is lost
    fake = FakeDataApi(lost_replies=1)
    result = write(fake, rows(3))
    # Then the retry (same ClientToken) finds the same statement: one INSERT, rows written
    assert result.written == ids(0, 1, 2)
    assert len(fake.inserts()) == 1


def test_lost_replies_then_failed_retries_find_the_statement_by_name() -> None:
    # Given the first submit committed but its reply was lost, and every retry is throttled
    throttled = [client_error("ThrottlingException") for _ in range(9)]
    fake = FakeDataApi(submit_errors={"c1": throttled}, lost_replies=1)
    result = write(fake, rows(3), settings=replace(SETTINGS, max_transient_retries=2))
    # Then ListStatements finds it by name and its outcome counts: written, not returned
    assert "ListStatements" in fake.calls
    assert result.written == ids(0, 1, 2)
    assert not result.returned
    assert len(fake.inserts()) == 1


def test_unreachable_after_a_lost_reply_is_unconfirmed_not_a_clean_failure() -> None:
    throttled = [client_error("ThrottlingException") for _ in range(9)]
    fake = FakeDataApi(submit_errors={"c1": throttled}, lost_replies=1)
    fake.list_errors = [client_error("InternalServerException") for _ in range(9)]
    result = write(fake, rows(3), settings=replace(SETTINGS, max_transient_retries=1))
    assert set(result.returned) == ids(0, 1, 2)
    assert result.stats.unconfirmed == 1
    [name] = result.unconfirmed
    assert name.startswith("sqs-redshift-ingest/primary/")


def test_transiently_failed_statement_is_resubmitted_with_a_new_token() -> None:
    fake = FakeDataApi(fail_all_error="ERROR: 1023 DETAIL: Serializable isolation violation")

    def heal(_: object) -> None:
        fake.fail_all_error = None

    fake.on_execute = heal
    result = write(fake, rows(3))
    assert len(result.written) == 3
    assert len(fake.inserts()) == 2
    assert len(fake.tokens) == 2
    assert len({s.name for s in fake.inserts()}) == 2


def test_configuration_failure_returns_every_row_without_bisecting() -> None:
    fake = FakeDataApi(fail_all_error='relation "public.appsflyer_events" does not exist')
    one_per_transaction = replace(SETTINGS, statement_max_bytes=3_700, statements_per_transaction=1)
    result = write(fake, rows(40), settings=one_per_transaction)
    assert len(result.returned) == 40
    assert not result.rejected
    assert result.counts.bisection_steps == 0
    assert len(fake.inserts()) == 1  # it stopped at the first failure
    failed_id = fake.inserts()[0].id
    with_id = [m for m, f in result.returned.items() if f.statement_id == failed_id]
    assert 0 < len(with_id) < 40  # the failed statement's rows carry its id; unsent ones none


def test_size_validation_exception_is_bisected() -> None:
    too_big = client_error("ValidationException", "Cannot process query string larger than 100kB")
    fake = FakeDataApi(submit_errors={"c1": [too_big]})
    result = write(fake, rows(4))
    assert len(result.written) == 4
    assert result.counts.bisection_steps == 1


def test_validation_exception_about_the_target_never_bisects() -> None:
    refusal = client_error("ValidationException", "Database parameter is invalid for workgroup")
    fake = FakeDataApi(submit_errors={"c1": [refusal]})
    result = write(fake, rows(4))
    assert not result.rejected
    assert set(result.returned) == ids(0, 1, 2, 3)
    assert result.counts.bisection_steps == 0


def test_statement_hanging_past_the_deadline_is_cancelled_and_rows_come_back() -> None:
    fake = FakeDataApi(hang_next=1)
    result = write(
        fake, rows(40), seconds=40, settings=replace(SETTINGS, statement_max_bytes=3_700)
    )
    assert not result.written
    assert len(result.returned) == 40  # the cancelled statement's rows and those never sent
    assert result.stats.cancelled == 1
    assert len(fake.inserts()) == 1
    assert fake.inserts()[0].status == "ABORTED"


def test_refused_cancels_are_retried_until_the_statement_is_confirmed_ended() -> None:
    fake = FakeDataApi(hang_next=1)
    fake.cancel_errors = [client_error("ThrottlingException") for _ in range(3)]
    result = write(fake, rows(3), seconds=45)
    assert fake.calls.count("CancelStatement") == 4
    assert fake.inserts()[0].status == "ABORTED"
    assert result.stats.cancelled == 1
    assert result.unconfirmed == ()


def test_cancel_never_confirmed_is_reported_by_id() -> None:
    fake = FakeDataApi(hang_next=1)
    fake.cancel_errors = [client_error("ThrottlingException") for _ in range(500)]
    result = write(fake, rows(3), seconds=45)
    assert result.unconfirmed == (fake.inserts()[0].id,)
    assert result.stats.unconfirmed == 1
    assert set(result.returned) == ids(0, 1, 2)


def test_nothing_is_submitted_after_the_deadline() -> None:
    fake = FakeDataApi()
    result = write(fake, rows(3), seconds=0)
    assert not fake.statements
    assert len(result.returned) == 3


def test_redelivered_rows_the_target_holds_are_skipped() -> None:
    fake = FakeDataApi()
    write(fake, rows(4)[:2])  # m-000 and m-001 landed earlier
    result = write(fake, rows(4, receive_count=2))
    assert result.already_held == ids(0, 1)
    assert result.written == ids(2, 3)
    landed = sorted(v for v in fake.finished_values("c1") if v.startswith("m-"))
    assert landed == sorted(ids(0, 1, 2, 3))
    select = next(s for s in fake.statements if s.sql.startswith("SELECT"))
    assert '"event_time" BETWEEN' in select.sql  # read through the sort key's zone maps


def test_orphan_of_a_killed_invocation_is_cancelled_before_the_target_is_asked() -> None:
    # Given a statement of an earlier invocation, still running long after its deadline
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    fake.execute_statement(
        ClusterIdentifier="c1",
        Sql="INSERT INTO t VALUES (:p0)",
        Parameters=[{"name": "p0", "value": "m-000"}],
        StatementName="sqs-redshift-ingest/primary/100/abc",
    )
    # When a redelivered batch runs
    result = write(fake, rows(2, receive_count=2), clock=clock)
    # Then the orphan is cancelled first, and the rows are written once
    assert fake.statements[0].status == "ABORTED"
    assert result.written == ids(0, 1)


# ---- transactions of several INSERTs (STATEMENTS_PER_TRANSACTION) -----------------------------

SMALL_INSERTS = replace(SETTINGS, statement_max_bytes=3_700)  # about 5 rows an INSERT


def test_a_batch_of_inserts_commits_as_one_transaction() -> None:
    # Given 40 rows that need about 8 INSERTs
    fake = FakeDataApi()
    # When they are written with the default of up to 40 INSERTs per transaction
    result = write(fake, rows(40), settings=SMALL_INSERTS)
    # Then one BatchExecuteStatement carried them all, and it is the one commit
    [transaction] = fake.inserts()
    assert len(transaction.sqls) > 5
    assert result.written == ids(*range(40))
    assert result.counts.transactions == 1
    assert result.stats.submitted == 1


def test_a_failed_insert_in_a_transaction_is_bisected_and_the_others_run_again_as_one() -> None:
    # Given one bad row among 40, in the third of about 8 INSERTs of one transaction
    fake = poisoned_fake(12)
    # When they are written
    result = write(fake, rows(40, {12}), settings=SMALL_INSERTS)
    # Then the failed transaction committed nothing; the service named the failing INSERT,
    # whose rows were bisected down to the bad one, and the other INSERTs ran again together
    first = fake.inserts()[0]
    assert first.status == "FAILED"
    assert first.failed_part is not None
    assert result.rejected.keys() == ids(12)
    assert result.written == ids(*range(40)) - ids(12)
    resubmitted = [s for s in fake.inserts()[1:] if len(s.sqls) == len(first.sqls) - 1]
    assert len(resubmitted) == 1
    assert resubmitted[0].status == "FINISHED"
    # And never more than one statement was active on the target
    assert fake.peak_active["c1"] == 1


def test_a_transaction_whose_failing_insert_is_not_named_is_halved() -> None:
    # Given a service that does not say which INSERT of a transaction failed
    fake = poisoned_fake(33)
    fake.describe_sub_statements = False
    # When 40 rows with one bad one are written
    result = write(fake, rows(40, {33}), settings=SMALL_INSERTS)
    # Then the transaction is split in halves of INSERTs until the bad row stands alone, and
    # every good row lands
    assert result.written == ids(*range(40)) - ids(33)
    assert fake.peak_active["c1"] == 1
    # But the probe cannot show that its INSERT ran (the service does not say which SQL
    # failed), so the lone row is not convicted: it comes back (and is dead-lettered by the
    # function on its last receive)
    assert not result.rejected
    assert result.returned.keys() == ids(33)
    assert "statement-level" in result.returned["m-033"].reason


def test_one_insert_per_transaction_sends_each_with_execute_statement() -> None:
    # Given STATEMENTS_PER_TRANSACTION=1 (the behaviour before transactions)
    fake = FakeDataApi()
    settings = replace(SMALL_INSERTS, statements_per_transaction=1)
    # When 40 rows are written
    result = write(fake, rows(40), settings=settings)
    # Then every INSERT is its own statement and its own commit
    assert all(not s.sqls for s in fake.inserts())
    assert result.counts.transactions == len(fake.inserts()) > 5
    assert result.written == ids(*range(40))
