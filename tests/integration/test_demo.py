"""`make demo` in process, on the session's PostgreSQL: every record ends where it should."""

from __future__ import annotations

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
from demo.report import BatchOutcome
from demo.runtime import DeadLetterSeen, Invocation
from local.stack import LocalDataApi

pytestmark = pytest.mark.integration

EXPECTED = json.loads(demo.EXPECTED.read_text(encoding="utf-8"))
POISON = EXPECTED["sqs-mixed-batch.json"]["dead_lettered"]


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
    for reason in POISON.values():
        assert reason in text


def test_every_batch_adds_up_and_lands_where_expected(data_api: LocalDataApi) -> None:
    result = demo.run("fast", data_api=data_api, out=io.StringIO())
    assert result.problems == []
    batches = by_file(result)
    assert list(batches) == [step.file for step in demo.STEPS]
    for batch in result.batches:
        assert batch.accounted(), batch.accounting_text()
        assert batch.handler_rows() == batch.rows_added

    # First delivery: the primary takes everything, the refusing secondary sends it all back.
    clean = batches["sqs-clean-batch.json"]
    assert clean.rows_added == {"primary": 10, "secondary": 0}
    assert clean.retried == set(clean.received)
    assert clean.redelivered == 0
    assert clean.already_present() == {"primary": 0, "secondary": 0}

    mixed = batches["sqs-mixed-batch.json"]
    assert {d.message_id: d.reason for d in mixed.dead_letters} == POISON
    assert all(d.detail for d in mixed.dead_letters)
    assert mixed.rows_added == {"primary": 10, "secondary": 10}
    assert mixed.retried == set()

    assert batches["sqs-large-batch.json"].rows_added == {"primary": 500, "secondary": 500}

    # Redelivery: asked, the primary says it holds them all, so it does not take them twice.
    redelivered = batches["sqs-redelivered-batch.json"]
    assert redelivered.received == clean.received
    assert redelivered.redelivered == 10
    assert redelivered.held_before == {"primary": 10, "secondary": 0}
    assert redelivered.already_present() == redelivered.held_before
    assert redelivered.rows_added == {"primary": 0, "secondary": 10}
    assert redelivered.written_everywhere == set(clean.received)

    final = result.final
    unique_good = len(set(final.seen) - set(POISON))
    assert unique_good == 520
    for target in demo.TARGET_NAMES:
        assert sum(final.rows[target].values()) == unique_good
        assert final.duplicates(target) == {}
    assert final.dead_lettered == set(POISON)
    assert final.awaiting_retry == set()
    assert final.already_present == {"primary": 10, "secondary": 0}


def test_leaves_the_environment_and_the_handler_as_it_found_them(
    data_api: LocalDataApi,
) -> None:
    before = {name: os.environ.get(name) for name in ("REDSHIFT_TARGETS", "AWS_ENDPOINT_URL_SQS")}
    demo.run("fast", data_api=data_api, out=io.StringIO())
    after = {name: os.environ.get(name) for name in before}
    assert after == before
    assert app.ingest.cache_info().currsize == 0


def test_exits_non_zero_when_outcomes_differ_from_the_expected(
    data_api: LocalDataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = json.loads(json.dumps(EXPECTED))
    some_id = next(iter(POISON))
    wrong["sqs-mixed-batch.json"]["dead_lettered"][some_id] = "rejected_by_database"
    expected_file = tmp_path / "expected-outcomes.json"
    expected_file.write_text(json.dumps(wrong), encoding="utf-8")
    monkeypatch.setattr(demo, "EXPECTED", expected_file)
    out = io.StringIO()
    assert demo.main([], data_api=data_api, out=out) == 1
    assert "PROBLEM: sqs-mixed-batch.json: dead letters" in out.getvalue()


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
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.run"],
        cwd=demo.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    for output_line in process.stdout:
        seen.append(output_line)
        if output_line.startswith("[2/4]"):
            break
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "interrupted: cleaned up" in output
    assert list(shared_tmp.iterdir()) == []  # PostgreSQL's data directory and the demo's
