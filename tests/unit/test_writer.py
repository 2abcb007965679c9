"""The per-target writer: retries, bisection to the guilty rows, deadlines."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from ingest.config import Settings, Target
from ingest.deadline import Deadline
from ingest.records import Row, SqsMessage, validate
from ingest.redshift import DataApi
from ingest.writer import TargetWriter
from tests.support import payload
from tests.unit.fakes import FakeClock, FakeDataApi, client_error

TARGET = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")
SETTINGS = Settings(
    targets=(TARGET,),
    table="public.appsflyer_events",
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/1/dlq",
    ledger_table=None,
)


def rows(count: int, poisoned: set[int] = frozenset()) -> list[Row]:  # type: ignore[assignment]
    built = []
    for i in range(count):
        # A poisoned row carries a marker value the fake database refuses.
        city = f"POISON-{i}" if i in poisoned else f"city-{i}"
        row = validate(SqsMessage(f"m-{i:03d}", json.dumps(payload(city=city)), 1))
        assert isinstance(row, Row)
        built.append(row)
    return built


def writer(fake: FakeDataApi, clock: FakeClock, settings: Settings = SETTINGS) -> TargetWriter:
    api = DataApi(fake, supports_wait=True, sleep=clock.sleep, clock=clock)  # type: ignore[arg-type]
    return TargetWriter(api, settings, rng=random.Random(7), sleep=clock.sleep)


def poisoned_fake(*indexes: int) -> FakeDataApi:
    return FakeDataApi(poison={f"POISON-{i}" for i in indexes})


def test_clean_rows_are_one_statement() -> None:
    fake, clock = FakeDataApi(), FakeClock()
    result = writer(fake, clock).write(TARGET, rows(10), Deadline.after(60, clock))
    assert result.written == {f"m-{i:03d}" for i in range(10)}
    assert not result.retry
    assert not result.rejected
    assert result.stats.statements_submitted == 1
    assert len(result.stats.statement_durations_ms) == 1


@pytest.mark.parametrize("guilty", [{0}, {9}, {4}, {2, 7}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}])
def test_bisection_isolates_the_guilty_rows(guilty: set[int]) -> None:
    fake, clock = poisoned_fake(*guilty), FakeClock()
    result = writer(fake, clock).write(TARGET, rows(10, guilty), Deadline.after(60, clock))
    guilty_ids = {f"m-{i:03d}" for i in guilty}
    assert set(result.rejected) == guilty_ids
    assert result.written == {f"m-{i:03d}" for i in range(10)} - guilty_ids
    assert all("value too long" in e for e in result.rejected.values())
    assert result.stats.bisection_steps >= 1
    assert fake.peak_active["c1"] == 1  # halves go one at a time
    # Each good row landed exactly once.
    landed = [v for v in fake.finished_values("c1") if v.startswith("m-")]
    assert sorted(landed) == sorted(result.written)


def test_one_guilty_row_in_a_large_batch_costs_logarithmic_statements() -> None:
    fake, clock = poisoned_fake(37), FakeClock()
    result = writer(fake, clock).write(TARGET, rows(64, {37}), Deadline.after(60, clock))
    assert set(result.rejected) == {"m-037"}
    assert len(result.written) == 63
    assert result.stats.bisection_steps == 6  # log2(64)
    assert result.stats.statements_submitted == 1 + 2 * 6


@pytest.mark.parametrize(
    ("code", "counter"),
    [
        ("ActiveStatementsExceededException", "quota_rejections"),
        ("ThrottlingException", "throttles"),
        ("InternalServerException", None),
    ],
)
def test_transient_submit_errors_are_retried(code: str, counter: str | None) -> None:
    fake = FakeDataApi(submit_errors={"c1": [client_error(code), client_error(code)]})
    clock = FakeClock()
    result = writer(fake, clock).write(TARGET, rows(5), Deadline.after(60, clock))
    assert len(result.written) == 5
    assert result.stats.statements_submitted == 1  # refused submits are not statements
    if counter:
        assert getattr(result.stats, counter) == 2
    assert clock() > 1000.0  # it backed off between attempts


def test_retries_are_bounded_then_rows_come_back() -> None:
    errors = [client_error("ActiveStatementsExceededException") for _ in range(10)]
    fake, clock = FakeDataApi(submit_errors={"c1": errors}), FakeClock()
    settings = replace(SETTINGS, max_transient_retries=2)
    result = writer(fake, clock, settings).write(TARGET, rows(5), Deadline.after(60, clock))
    assert not result.written
    assert set(result.retry) == {f"m-{i:03d}" for i in range(5)}
    assert result.stats.quota_rejections == 3
    assert "quota" in next(iter(result.retry.values())).reason


def test_transiently_failed_statement_is_resubmitted_with_a_new_token() -> None:
    fake, clock = FakeDataApi(fail_all_error="Serializable isolation violation"), FakeClock()

    def heal(_: object) -> None:
        fake.fail_all_error = None

    fake.on_execute = heal
    result = writer(fake, clock).write(TARGET, rows(3), Deadline.after(60, clock))
    assert len(result.written) == 3
    assert len(fake.statements) == 2
    assert len(fake.tokens) == 2


def test_configuration_failure_returns_every_row_without_bisecting() -> None:
    fake, clock = (
        FakeDataApi(fail_all_error='relation "public.appsflyer_events" does not exist'),
        FakeClock(),
    )
    settings = replace(SETTINGS, statement_max_bytes=20_000)
    result = writer(fake, clock, settings).write(TARGET, rows(40), Deadline.after(60, clock))
    assert len(result.retry) == 40
    assert not result.rejected
    assert result.stats.bisection_steps == 0
    assert len(fake.statements) == 1  # it stopped at the first failure
    ran = [f for f in result.failures if f.statement_id == fake.statements[0].id]
    assert len(ran) == 1  # the failed statement's rows are reported once, with its id
    assert result.retry[ran[0].message_ids[0]].statement_id == fake.statements[0].id


def test_size_validation_exception_is_bisected_like_a_data_failure() -> None:
    too_big = client_error("ValidationException", "Cannot process query string larger than 100kB")
    fake = FakeDataApi(submit_errors={"c1": [too_big]})
    clock = FakeClock()
    result = writer(fake, clock).write(TARGET, rows(4), Deadline.after(60, clock))
    assert len(result.written) == 4
    assert result.stats.bisection_steps == 1


def test_statement_hanging_past_the_deadline_is_cancelled_and_rows_come_back() -> None:
    fake, clock = FakeDataApi(hang_next=1), FakeClock()
    settings = replace(SETTINGS, statement_max_bytes=20_000)
    result = writer(fake, clock, settings).write(TARGET, rows(40), Deadline.after(10, clock))
    assert not result.written
    assert len(result.retry) == 40  # the cancelled statement's rows and those never sent
    assert result.stats.statements_cancelled == 1
    assert len(fake.statements) == 1
    assert fake.statements[0].status == "ABORTED"


def test_nothing_is_submitted_after_the_deadline() -> None:
    fake, clock = FakeDataApi(), FakeClock()
    result = writer(fake, clock).write(TARGET, rows(3), Deadline.after(0, clock))
    assert not fake.statements
    assert len(result.retry) == 3
