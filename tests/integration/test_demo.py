"""`make demo` in process, on the session's PostgreSQL: every record ends where it should."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import app
from demo import run as demo
from demo.report import BatchOutcome, PlacementSeen
from demo.runtime import DeadLetterSeen, Invocation
from demo.streams import APPSFLYER, ORDERS, ROOT, STREAMS, TABLE_SETTINGS, Placement
from local.stack import LocalDataApi
from tests.interrupt import start_interruptible

pytestmark = pytest.mark.integration

EXPECTED = json.loads(APPSFLYER.expected[0].read_text(encoding="utf-8"))
POISON = EXPECTED["sqs-mixed-batch.json"]["dead_lettered"]
ORDERS_EXPECTED = {
    file: outcomes
    for path in ORDERS.expected
    for file, outcomes in json.loads(path.read_text(encoding="utf-8")).items()
}
BAD_ORDERS = ORDERS_EXPECTED["orders-batch.json"]["dead_lettered"]
BAD_COUPON_ORDERS = ORDERS_EXPECTED["orders-coupon-batch.json"]["dead_lettered"]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A TMPDIR the unprivileged PostgreSQL account can enter (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="demo-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def by_file(result: demo.DemoResult) -> dict[str, BatchOutcome]:
    return {batch.file: batch for batch in result.batches}


def test_main_exits_zero_and_prints_the_accounting(data_api: LocalDataApi) -> None:
    out = io.StringIO()
    status = demo.main([], data_api=data_api, out=out)
    text = out.getvalue()
    assert status == 0, text
    assert "PROBLEM" not in text
    assert (
        "all 530 records accounted for: 520 in every target + 10 dead-lettered + "
        "0 awaiting redelivery = 530"
    ) in text
    assert (
        "all 20 records accounted for: 16 in every target + 4 dead-lettered + "
        "0 awaiting redelivery = 20"
    ) in text
    for reason in [*POISON.values(), *BAD_ORDERS.values(), *BAD_COUPON_ORDERS.values()]:
        assert reason in text
    # The second stream: other settings, the column added while running, and what it means
    assert 'FIELD_MAPPING={"payment.captured":"paid"}' in text
    assert "ALTER TABLE public.orders ADD COLUMN coupon_code VARCHAR(32)" in text
    assert "table re-read     primary, secondary: public.orders, added coupon_code" in text
    assert "coupon codes stay in extra: the column did not exist when they came" in text
    assert "OK: every record of public.appsflyer_events and public.orders accounted for" in text


def test_every_batch_adds_up_and_lands_where_expected(data_api: LocalDataApi) -> None:
    result = demo.run("fast", data_api=data_api, out=io.StringIO())
    assert result.problems == []
    batches = by_file(result)
    assert list(batches) == [step.file for stream in STREAMS for step in stream.steps]
    for batch in result.batches:
        assert batch.accounted(), batch.accounting_text()
        assert batch.handler_rows() == batch.rows_added

    # First delivery: the primary takes everything, the refusing secondary sends it all back.
    clean = batches["sqs-clean-batch.json"]
    assert clean.rows_added == {"primary": 10, "secondary": 0}
    assert clean.returned == set(clean.received)
    assert clean.redelivered == 0
    assert clean.already_present() == {"primary": 0, "secondary": 0}

    mixed = batches["sqs-mixed-batch.json"]
    assert {d.message_id: d.reason for d in mixed.dead_letters} == POISON
    assert all(d.detail for d in mixed.dead_letters)
    assert mixed.rows_added == {"primary": 10, "secondary": 10}
    assert mixed.returned == set()

    assert batches["sqs-large-batch.json"].rows_added == {"primary": 500, "secondary": 500}

    # Redelivery: asked, the primary says it holds them all, so it does not take them twice.
    redelivered = batches["sqs-redelivered-batch.json"]
    assert redelivered.received == clean.received
    assert redelivered.redelivered == 10
    assert redelivered.held_before == {"primary": 10, "secondary": 0}
    assert redelivered.already_present() == redelivered.held_before
    assert redelivered.rows_added == {"primary": 0, "secondary": 10}
    assert redelivered.written_everywhere == set(clean.received)

    final = result.finals[APPSFLYER.table]
    unique_good = len(set(final.seen) - set(POISON))
    assert unique_good == 520
    for target in demo.TARGET_NAMES:
        assert sum(final.rows[target].values()) == unique_good
        assert final.duplicates(target) == {}
    assert final.dead_lettered == set(POISON)
    assert final.awaiting_retry == set()
    assert final.already_present == {"primary": 10, "secondary": 0}


def test_a_second_table_and_a_column_added_while_running_take_only_settings(
    data_api: LocalDataApi,
) -> None:
    result = demo.run("fast", data_api=data_api, out=io.StringIO())
    assert result.problems == []
    batches = by_file(result)

    # Orders: the good ones in both targets, the bad ones dead-lettered with their reasons
    orders = batches["orders-batch.json"]
    assert orders.rows_added == {"primary": 9, "secondary": 9}
    assert orders.dead_letter_reasons() == BAD_ORDERS
    assert orders.returned == set()
    # The handler read public.orders from each target's catalog at its new cold start
    assert {(r["message"], r["target"], r["table"]) for r in orders.invocation.table_reads} == {
        ("target table read", "primary", "public.orders"),
        ("target table read", "secondary", "public.orders"),
    }
    placed = {(seen.field, seen.place): seen for seen in orders.placements}
    assert set(placed) == {
        ("Currency", "currency"),
        ("payment.captured", "paid"),
        ("paid", "paid"),
        ("payment", "extra.payment"),
        ("coupon_code", "extra.coupon_code"),
    }
    assert all(seen.ok() for seen in placed.values())
    assert placed["Currency", "currency"].records == 2
    assert placed["payment.captured", "paid"].records == 2
    assert placed["coupon_code", "extra.coupon_code"].records == 3

    # After ALTER TABLE ... ADD COLUMN and the refresh interval: the codes land in the column
    coupons = batches["orders-coupon-batch.json"]
    assert coupons.table_change is not None
    assert coupons.table_change.startswith(ORDERS_EXPECTED["orders-coupon-batch.json"]["after"])
    assert coupons.tables_changed() == {"primary", "secondary"}
    assert [r["added"] for r in coupons.invocation.table_reads] == [["coupon_code"]] * 2
    assert coupons.rows_added == {"primary": 7, "secondary": 7}
    assert coupons.dead_letter_reasons() == BAD_COUPON_ORDERS  # a code longer than VARCHAR(32)
    new_column, earlier = coupons.placements
    assert (new_column.place, new_column.records, new_column.ok()) == ("coupon_code", 6, True)
    # The first batch's codes stay in extra: the column did not exist when they were written
    assert (earlier.place, earlier.records_of) == ("extra.coupon_code", "orders-batch.json")
    assert (earlier.records, earlier.ok()) == (3, True)

    final = result.finals[ORDERS.table]
    assert final.expected_rows() == 16
    for target in demo.TARGET_NAMES:
        assert sum(final.rows[target].values()) == 16
        assert final.duplicates(target) == {}
    assert final.dead_lettered == set(BAD_ORDERS) | set(BAD_COUPON_ORDERS)
    assert final.awaiting_retry == set()


def test_leaves_the_environment_and_the_handler_as_it_found_them(
    data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A setting in the caller's shell decides nothing in the demo, and survives it
    monkeypatch.setenv("FIELD_MAPPING", '{"id":"sqs_message_id"}')  # a ConfigError if read
    names = ("REDSHIFT_TARGETS", "AWS_ENDPOINT_URL_SQS", *TABLE_SETTINGS)
    before = {name: os.environ.get(name) for name in names}
    result = demo.run("fast", data_api=data_api, out=io.StringIO())
    assert result.problems == []
    after = {name: os.environ.get(name) for name in before}
    assert after == before
    assert app.ingest.cache_info().currsize == 0


def test_exits_non_zero_when_outcomes_differ_from_the_expected(
    data_api: LocalDataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given expectations that name another reason for one AppsFlyer record
    wrong = json.loads(json.dumps(EXPECTED))
    some_id = next(iter(POISON))
    wrong["sqs-mixed-batch.json"]["dead_lettered"][some_id] = "rejected_by_database"
    expected_file = tmp_path / "expected-outcomes.json"
    expected_file.write_text(json.dumps(wrong), encoding="utf-8")
    appsflyer = dataclasses.replace(APPSFLYER, expected=(expected_file,))
    # and an orders step that looks for a field where the function does not put it
    first, *rest = ORDERS.steps
    misplaced = Placement("Currency", "extra.Currency", "where it is not")
    first = dataclasses.replace(first, placements=(*first.placements, misplaced))
    orders = dataclasses.replace(ORDERS, steps=(first, *rest))
    monkeypatch.setattr(demo, "STREAMS", (appsflyer, orders))
    # When the demo runs, Then it says so and exits 1
    out = io.StringIO()
    assert demo.main([], data_api=data_api, out=out) == 1
    text = out.getvalue()
    assert "PROBLEM: sqs-mixed-batch.json: dead letters" in text
    assert (
        "PROBLEM: orders-batch.json: Currency -> extra.Currency: of 2 records, not there "
        "(or also elsewhere): 2 in primary, 2 in secondary"
    ) in text
    assert "OK: every record" not in text


def test_a_placement_no_record_exercises_is_a_problem() -> None:
    """A field that no record carries would pass every comparison: it proves nothing."""
    unexercised = PlacementSeen("f", "c", "", None, 0, {"t": []})
    assert not unexercised.ok()
    assert unexercised.failure() == "no good record carries the field"
    assert not PlacementSeen("f", "c", "", None, 2, {"t": ["a"], "u": []}).ok()
    assert PlacementSeen("f", "c", "", None, 2, {"t": [], "u": []}).ok()


def test_a_record_in_no_outcome_breaks_the_accounting() -> None:
    """The sum is over what was observed: a record neither written, dead-lettered nor
    retried (or one in two outcomes) cannot hide behind the other counts."""
    invocation = Invocation(
        retry_ids=["b"], raised=None, summary={"rows_written": {"t": 1}}, failures=[], seconds=0
    )
    outcome = BatchOutcome(
        file="x.json",
        title="",
        targets=("t",),
        received=["a", "b", "c", "d"],
        invocation=invocation,
        rows_added={"t": 1},
        in_every_target={"a"},
        dead_letters=[DeadLetterSeen("b", "invalid_json", "", None)],
        expected_dead_letters={"b": "invalid_json"},
        redelivered=0,
        held_before={"t": 0},
    )
    assert not outcome.accounted()
    assert any("do not add up" in problem for problem in outcome.problems())


def test_already_present_counts_are_checked_against_what_the_target_held() -> None:
    """The handler's rows_already_present must be what PostgreSQL held before the batch: a
    redelivered record the handler did not find would be written twice."""
    invocation = Invocation(
        retry_ids=[],
        raised=None,
        summary={"rows_written": {"t": 1}, "rows_already_present": {"t": 0}},
        failures=[],
        seconds=0,
    )
    outcome = BatchOutcome(
        file="x.json",
        title="",
        targets=("t",),
        received=["a"],
        invocation=invocation,
        rows_added={"t": 1},
        in_every_target={"a"},
        dead_letters=[],
        expected_dead_letters={},
        redelivered=1,
        held_before={"t": 1},
    )
    assert outcome.accounted()
    assert outcome.problems() == [
        "x.json: handler found {'t': 0} already present, PostgreSQL held {'t': 1} before the batch"
    ]


def test_ctrl_c_mid_run_stops_everything_and_removes_temp_files(shared_tmp: Path) -> None:
    """The CLI as `make demo` runs it, interrupted while the batches are being replayed."""
    env = {**os.environ, "PYTHONPATH": "src/handler:.", "TMPDIR": str(shared_tmp)}
    process = start_interruptible(
        [sys.executable, "-m", "demo.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen: list[str] = []
    for output_line in process.stdout:
        seen.append(output_line)
        if output_line.startswith("[2/6]"):
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "interrupted: cleaned up" in output
    assert list(shared_tmp.iterdir()) == []  # PostgreSQL's data directory and the demo's
