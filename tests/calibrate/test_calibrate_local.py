"""calibrate end to end against the local Data API on PostgreSQL: the real boto3 client, real SQL.

The cluster model is the simulated ra3.large with tens of milliseconds of latency, so that a run
takes seconds. The tests assert what the run did and what it printed, never how fast it went: the
one figure checked is that no measured commit rate beats the model's hard ceiling.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from calibrate.cli import main
from calibrate.dataapi import Target
from calibrate.measure import LevelResult, Plan
from calibrate.recommend import Workload, recommend
from calibrate.report import recommendation_lines, report
from calibrate.session import Limits, SessionResult, run_session
from calibrate.workload import Shape
from local.model import FAST, RA3_LARGE
from local.stack import LocalDataApi
from tests.interrupt import interrupt_once_table_exists

if TYPE_CHECKING:
    from mypy_boto3_redshift_data.type_defs import StatementDataTypeDef

CLUSTER = "calib-cluster"
# The simulated ra3.large (at most 12 commits a second, one at a time) with 50 ms of latency
# instead of its own, so that a run takes seconds. Only the latency is set: the commit's
# parameters are the model's own.
MODEL = replace(RA3_LARGE, latency_seconds=0.05)
COMMITS_PER_SECOND = 12.0  # its ceiling: 1 / the fixed part of a commit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def local(data_api: LocalDataApi) -> LocalDataApi:
    data_api.declare_target(CLUSTER, "cluster", databases=("dev",))
    data_api.set_model(CLUSTER, MODEL)
    return data_api


def scratch_tables(api: LocalDataApi) -> list[str]:
    with api.connect(CLUSTER, "dev") as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE tablename LIKE 'ingest_calibrate_%'"
        ).fetchall()
    return [row[0] for row in rows]


def listed_statements(api: LocalDataApi, name: str) -> list[StatementDataTypeDef]:
    pages = api.client().get_paginator("list_statements").paginate(StatementName=name)
    return [statement for page in pages for statement in page["Statements"]]


def session(
    api: LocalDataApi,
    plan: Plan,
    limits: Limits,
    progress: Callable[[Shape, LevelResult], None],
) -> SessionResult:
    """What main runs, on the local cluster through a boto3 client without retries."""
    return run_session(
        api.client(),
        target=Target(database="dev", cluster_identifier=CLUSTER, db_user="ingest"),
        schema="public",
        plan=plan,
        limits=limits,
        progress=progress,
    )


def args(api: LocalDataApi, *extra: str) -> list[str]:
    return [
        "--cluster-id", CLUSTER, "--db-user", "ingest", "--database", "dev",
        "--endpoint-url", api.endpoint_url, "--region", "us-east-1", *extra,
    ]  # fmt: skip


def test_a_run_measures_every_shape_recommends_from_it_and_leaves_nothing_behind(
    local: LocalDataApi,
) -> None:
    # Given a cluster that commits at most 10 transactions a second
    out = io.StringIO()

    # When calibrate ramps 1, 2, 4 writers over the three transaction shapes
    code = main(args(local, "--max-concurrency", "4", "--level-seconds", "0.4"), out)

    # Then it succeeds, prints a line per level measured, the fit, the settings and the cost
    text = out.getvalue()
    assert code == 0, text
    for label in ("1 row", "100 KB", "4 x 100 KB"):
        assert re.search(rf"^{re.escape(label)}\s+1\s", text, re.MULTILINE), text
    assert "fit: commit = " in text
    assert re.search(
        r"BatchSize=\d+ BatchingWindowSeconds=\d+ MaximumConcurrency=\d+ "
        r"FunctionTimeoutSeconds=\d+ StatementsPerTransaction=\d+",
        text,
    )
    assert "RPU-seconds" in text
    # And the number of submits it reports is the number the service received
    calls = local.api_calls()
    submits = calls.get("ExecuteStatement", 0) + calls.get("BatchExecuteStatement", 0)
    reported = re.search(r"Ran (\d+) Data API submits \((\d+) SQL statements", text)
    assert reported is not None
    assert int(reported.group(1)) == submits
    # And the scratch table is gone, and nothing is left running
    table = re.search(r"Scratch table (public\.ingest_calibrate_[0-9a-f]{8}) dropped\.", text)
    assert table is not None, text
    assert scratch_tables(local) == []
    assert local.stats(CLUSTER).active == 0
    # And every statement carried its values as parameters: no literal in any SQL text
    name = "ingest-calibrate-" + table.group(1).rsplit("_", 1)[-1]
    statements = listed_statements(local, name)
    assert len(statements) == submits
    sql_count = 0
    for statement in statements:
        sqls = statement.get("QueryStrings") or [statement["QueryString"]]
        sql_count += len(sqls)
        values = [p["value"] for p in statement.get("QueryParameters", [])]
        for sql in sqls:
            assert "'" not in sql
            assert not any(value in sql for value in values)
    assert sql_count == int(reported.group(2))


def test_the_recommendation_follows_from_what_was_measured(local: LocalDataApi) -> None:
    # Given a run through the session (what main runs) with its levels collected
    seen: list[tuple[Shape, LevelResult]] = []
    plan = Plan(max_concurrency=4, level_seconds=0.4, batch_statements=3)
    result = session(local, plan, Limits(), lambda s, lv: seen.append((s, lv)))

    # Then the shapes grow in size, each ramp starts at one writer and stops at most at four
    measurements = result.measurements
    assert measurements is not None
    assert (result.error, result.drop_error) == (None, None)
    sizes = [shape.transaction_kb for shape in measurements.shapes]
    assert [s.shape.label for s in measurements.shapes] == ["1 row", "100 KB", "3 x 100 KB"]
    assert sizes == sorted(sizes)
    assert sizes[1] > 90
    assert sizes[2] > 2.5 * sizes[1]
    for shape in measurements.shapes:
        assert [lv.writers for lv in shape.levels] == [1, 2, 4][: len(shape.levels)]
        assert all(lv.transactions >= 2 * lv.writers for lv in shape.levels)
        # No estimate beats the model's serialized commit ceiling (a slow machine only lowers it)
        assert shape.top_commits_per_second <= COMMITS_PER_SECOND * 1.1
    assert len(seen) == sum(len(s.levels) for s in measurements.shapes)
    # And the fitted line is the one the shapes' commit costs give, and the settings printed
    # are recommend()'s for that profile
    profile = measurements.profile()
    assert profile is not None
    assert profile.commit_fixed_seconds == measurements.commit.intercept
    assert profile.commit_seconds_per_kb == measurements.commit.slope
    out = io.StringIO()
    report(result, Workload(), out)
    for line in recommendation_lines(recommend(profile, Workload())):
        assert line in out.getvalue().splitlines()
    assert scratch_tables(local) == []


def test_a_failing_statement_stops_the_run_and_the_table_is_still_dropped(
    local: LocalDataApi,
) -> None:
    # Given a run whose next statement fails after the first level

    def fail_from_now_on(shape: Shape, level: LevelResult) -> None:
        local.fail_next(CLUSTER, count=1, error="ERROR: disk full (injected)")

    result = session(local, Plan(max_concurrency=2, level_seconds=0.2), Limits(), fail_from_now_on)

    # Then the error is reported, what was measured is kept, and the table is gone
    assert "disk full (injected)" in (result.error or "")
    assert result.measurements is not None
    assert result.drop_error is None
    assert scratch_tables(local) == []
    assert local.stats(CLUSTER).active == 0


def test_a_drop_that_fails_prints_the_exact_drop_to_run(local: LocalDataApi) -> None:
    # Given a run that loses its permissions after the first level (submits refused)

    def revoke(shape: Shape, level: LevelResult) -> None:
        local.deny_access(CLUSTER)

    result = session(local, Plan(level_seconds=0.2), Limits(drop_retry_seconds=0.0), revoke)
    out = io.StringIO()
    report(result, Workload(), out)

    # Then the DROP failed (each of its tries), and the output says so with the statement to run
    assert "AccessDenied" in (result.drop_error or "")
    text = out.getvalue()
    assert f"COULD NOT DROP the scratch table {result.table}" in text
    assert f"Run this in the target database: DROP TABLE IF EXISTS {result.table};" in text
    table = result.table.split(".")[1]
    assert scratch_tables(local) == [table]
    # And the statement printed is the one that cleans up
    local.allow_access(CLUSTER)
    local.client().execute_statement(
        ClusterIdentifier=CLUSTER, DbUser="ingest", Database="dev", Sql=result.drop_sql
    )
    deadline = time.monotonic() + 30
    while scratch_tables(local) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scratch_tables(local) == []


def test_the_budget_bounds_the_statements(local: LocalDataApi) -> None:
    # Given a budget of 5 measurement statements
    out = io.StringIO()
    code = main(args(local, "--max-statements", "5", "--level-seconds", "5"), out)

    # Then exactly 5 ran besides CREATE and DROP, and the run says why it stopped
    text = out.getvalue()
    assert code == 0, text
    assert "Budget spent (--max-statements reached)" in text
    assert "Ran 7 Data API submits" in text
    calls = local.api_calls()
    assert calls.get("ExecuteStatement", 0) + calls.get("BatchExecuteStatement", 0) == 7
    assert scratch_tables(local) == []


@pytest.fixture
def slow_cluster(local: LocalDataApi) -> LocalDataApi:
    """Statements take a second: Ctrl-C finds one in flight."""
    local.set_model(CLUSTER, replace(FAST, latency_seconds=1.0))
    return local


def test_ctrl_c_cancels_what_runs_and_drops_the_table(slow_cluster: LocalDataApi) -> None:
    # Given calibrate running in its own process against the local endpoint
    # When Ctrl-C arrives once the table exists and it has started
    returncode, output = interrupt_once_table_exists(
        "calibrate",
        [*args(slow_cluster, "--level-seconds", "30")],
        lambda: scratch_tables(slow_cluster),
        running_seconds=1.5,
        exit_timeout=60,
    )

    # Then it exits as interrupted, having cancelled its statement and dropped the table
    assert returncode == 130, output
    assert "Interrupted: the statements in flight were cancelled." in output
    assert re.search(r"Scratch table public\.ingest_calibrate_[0-9a-f]{8} dropped\.", output)
    assert scratch_tables(slow_cluster) == []
    assert slow_cluster.stats(CLUSTER).active == 0


def test_a_target_the_service_does_not_know_creates_nothing_and_drops_nothing(
    local: LocalDataApi,
) -> None:
    out = io.StringIO()
    code = main(["--cluster-id", "no-such-cluster", *args(local)[2:]], out)
    text = out.getvalue()
    assert code == 1
    assert "Stopped by an error:" in text
    assert "Redshift endpoint doesn't exist" in text
    assert "Nothing was measured: no recommendation." in text
    assert re.search(r"Scratch table \S+ never created: the CREATE was not accepted\.", text)
    assert "Ran 0 Data API submits" in text
    assert local.api_calls().get("ExecuteStatement", 0) == 1  # the refused CREATE only


def test_the_cli_refuses_an_incomplete_target(
    local: LocalDataApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--cluster-id", CLUSTER, "--database", "dev", "--endpoint-url", local.endpoint_url])
    assert exit_info.value.code == 2
    assert "a cluster needs exactly one of --db-user and --secret-arn" in capsys.readouterr().err
    assert local.api_calls().get("ExecuteStatement", 0) == 0
