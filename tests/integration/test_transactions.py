"""Several INSERTs as one transaction: the function's StatementRunner, built as the composition
root builds it with its real SDK clients, against the local Data API on PostgreSQL."""

from __future__ import annotations

import os

from ingest.config import Settings, Target, load_settings
from ingest.failure_text import FailureKind, classify_failure
from ingest.redshift import StatementStatus
from ingest.statement_runner import Ran, Run, StatementRunner
from ingest.wiring import build_runner, deadlines_for, default_clients
from tests.integration.conftest import Stack

INSERT = (
    'INSERT INTO "public"."appsflyer_events" '
    '("appsflyer_id", "event_name", "event_time", "sqs_message_id") '
    "VALUES (:a{n}, :event, CAST(:time AS TIMESTAMP), :m{n})"
)
SQLS = [INSERT.format(n=n) for n in (1, 2, 3)]
# One shared list: :event and :time serve every SQL (and are bound in both bind modes).
SHARED = [("event", "install"), ("time", "2026-01-01 10:00:00")]
TOO_LONG = "x" * 256  # appsflyer_id is VARCHAR(255)


def runner_for(settings: Settings) -> StatementRunner:
    """The runner the handler's composition root builds (it keeps it inside its writer)."""
    _, runner = build_runner(settings, default_clients(settings))
    return runner


def primary(settings: Settings) -> Target:
    [target] = [t for t in settings.targets if t.name == "primary"]
    return target


def write(settings: Settings, sqls: list[str], parameters: list[tuple[str, str]]) -> Run:
    return runner_for(settings).run(
        primary(settings), sqls, parameters, deadlines_for(settings, 60)
    )


def outcome_of(run: Run) -> Ran:
    assert isinstance(run.result, Ran), run.result
    return run.result


def test_one_bad_sql_fails_the_transaction_commits_nothing_and_is_named(stack: Stack) -> None:
    # Given three INSERTs, the second with a value its column cannot hold
    settings = load_settings(os.environ)
    values = [("a1", "af-1"), ("m1", "m-1"), ("a2", TOO_LONG), ("m2", "m-2")]
    values += [("a3", "af-3"), ("m3", "m-3")]
    # When they run as one transaction
    run = write(settings, SQLS, [*SHARED, *values])
    # Then it FAILED at its second SQL, on a value, and nothing of it was committed
    outcome = outcome_of(run).outcome
    assert (outcome.status, outcome.failed_part) == (StatementStatus.FAILED, 1)
    assert outcome.error is not None
    assert classify_failure(outcome.error) is FailureKind.DATA
    assert run.stats.submitted == 1
    assert stack.counts("primary") == {}
    # And the other two, sent again without it, commit together
    again = write(settings, [SQLS[0], SQLS[2]], [*SHARED, *values[:2], *values[4:]])
    assert outcome_of(again).outcome.status is StatementStatus.FINISHED
    assert stack.counts("primary") == {"m-1": 1, "m-3": 1}


def test_a_lost_reply_of_a_transaction_is_settled_once(stack: Stack) -> None:
    # Given the service runs the transaction but its reply never arrives
    settings = load_settings(os.environ)
    stack.data_api.lose_reply_next("primary-cluster", operation="BatchExecuteStatement")
    values = [(f"{k}{n}", f"{'af' if k == 'a' else 'm'}-{n}") for n in (1, 2, 3) for k in "am"]
    run = write(settings, SQLS, [*SHARED, *values])
    # Then the retry, with the same token, finds the same transaction: every row once
    assert outcome_of(run).outcome.status is StatementStatus.FINISHED
    assert run.stats.submitted == 1
    assert stack.counts("primary") == {"m-1": 1, "m-2": 1, "m-3": 1}
    assert stack.data_api.api_calls()["BatchExecuteStatement"] == 2


def test_a_transaction_running_past_the_deadline_is_cancelled_whole(stack: Stack) -> None:
    settings = load_settings(os.environ)
    stack.data_api.hang_next("primary-cluster")
    values = [(f"{k}{n}", f"{'af' if k == 'a' else 'm'}-{n}") for n in (1, 2, 3) for k in "am"]
    run = runner_for(settings).run(
        primary(settings), SQLS, [*SHARED, *values], deadlines_for(settings, 25)
    )
    outcome = outcome_of(run).outcome
    assert (outcome.status, outcome.cancelled, outcome.failed_part) == (
        StatementStatus.ABORTED, True, None
    )  # fmt: skip
    assert stack.counts("primary") == {}
