"""The cluster model does what local.model says: latency, paid-for serialized commits, one writer
per table. Timing is read from the cluster's own records (lower bounds only, which a sleep
guarantees) or made deterministic by holding a statement inside PostgreSQL."""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from local.cluster import WriteLockHold
from local.loads import appends_only, loaded_files
from local.model import BASE, FAST, HIGH, KB, LOW, SETTINGS
from local.stack import LocalDataApi
from local.writes import reads_only, written_bytes, written_table
from tests.emulator.helpers import CLUSTER, TERMINAL, params, run, wait_for

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

pytestmark = pytest.mark.integration

# Exaggerated costs, so that what a commit is charged stands far above PostgreSQL's own time.
PER_KB = replace(FAST, commit_fixed_seconds=0.05, commit_seconds_per_kb=0.01)
LOCKED = replace(FAST, one_writer_per_table=True)
# A sleep lasts at least what it was asked; time.time() may tick a little coarser than that.
CLOCK_SLACK = 0.002


# ---- the named settings ------------------------------------------------------------------------


def test_the_settings_are_the_issues_and_differ_only_in_the_cost_per_kb() -> None:
    assert (BASE.slots, BASE.latency_seconds, BASE.commit_fixed_seconds) == (25, 1.5, 1 / 12)
    assert BASE.commit_seconds_per_kb == 0.0005
    assert BASE.one_writer_per_table
    assert (LOW.commit_seconds_per_kb, HIGH.commit_seconds_per_kb) == (0.0, 0.002)
    assert replace(LOW, commit_seconds_per_kb=BASE.commit_seconds_per_kb) == BASE
    assert replace(HIGH, commit_seconds_per_kb=BASE.commit_seconds_per_kb) == BASE
    assert list(SETTINGS) == ["base", "low", "high"]


def test_a_commit_costs_its_fixed_part_plus_its_part_per_kb() -> None:
    # A full 100 KB INSERT under BASE: 1/12 s + 100 x 0.5 ms.
    assert BASE.commit_seconds(100 * KB) == pytest.approx(1 / 12 + 0.05)
    assert LOW.commit_seconds(100 * KB) == pytest.approx(1 / 12)
    assert HIGH.commit_seconds(100 * KB) == pytest.approx(1 / 12 + 0.2)
    assert BASE.commits_per_second(0) == pytest.approx(12.0)
    assert FAST.commits_per_second(100 * KB) == float("inf")


# ---- what a transaction writes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("INSERT INTO public.t (a) VALUES (1)", "dev.public.t"),
        ("insert into t values (1)", "dev.public.t"),
        ('INSERT INTO "Sales"."Big ""T""" VALUES (1)', 'dev.Sales.Big "T"'),
        ("-- why\n/* how */ UPDATE s.T SET a = 1", "dev.s.t"),
        ("DELETE FROM dev.s.t WHERE a = 1", "dev.s.t"),
        ("delete s.t", "dev.s.t"),
        ("TRUNCATE TABLE s.t", "dev.s.t"),
        ("COPY s.t FROM 's3://b/k'", "dev.s.t"),
        ("SELECT * FROM t", None),
        ("CREATE TABLE t (a INT)", None),
        ("WITH x AS (SELECT 1) SELECT * FROM x", None),
    ],
)
def test_the_table_a_sql_writes(sql: str, table: str | None) -> None:
    assert written_table(sql, "dev") == table


def test_only_reads_have_nothing_to_commit() -> None:
    assert reads_only(["SELECT 1", "  with x as (select 1) select 1", "/* c */ SHOW search_path"])
    assert not reads_only(["SELECT 1", "INSERT INTO t VALUES (1)"])
    assert not reads_only(["CREATE TABLE t (a INT)"])


def test_the_bytes_written_are_the_sqls_and_each_value_once() -> None:
    sqls = ["INSERT INTO t VALUES (:a)", "INSERT INTO t VALUES (:a), (:b)"]
    assert written_bytes(sqls, {"a": "é", "b": "xyz"}) == 25 + 31 + 2 + 3
    assert written_bytes(["SELECT 1"], None) == 8


# ---- commits through the Data API -------------------------------------------------------------


def test_each_commit_is_charged_for_the_kb_it_wrote(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # Given a model charging 50 ms + 10 ms per KB for each commit
    run(redshift_data, "CREATE TABLE t (v VARCHAR(65535))")
    data_api.set_model("primary", PER_KB)
    sql = "INSERT INTO t VALUES (:v)"
    sizes = [1, 20_000, 5_000]

    # When three INSERTs of growing, then shrinking, values are submitted at once
    ids = [
        redshift_data.execute_statement(Sql=sql, Parameters=params(v="x" * n), **CLUSTER)["Id"]
        for n in sizes
    ]
    assert {wait_for(redshift_data, i, TERMINAL)["Status"] for i in ids} == {"FINISHED"}

    # Then each commit was charged exactly the model's price for its SQL and value,
    commits = data_api.stats("primary").commits[1:]  # [0]: the CREATE TABLE's, under FAST
    assert sorted(c.written_bytes for c in commits) == sorted(len(sql) + n for n in sizes)
    for commit in commits:
        assert commit.cost_seconds == pytest.approx(0.05 + 0.01 * commit.written_bytes / KB)
        assert commit.rows == 1
        assert commit.tables == ("dev.public.t",)
        # took at least that long,
        assert commit.ended_at - commit.started_at >= commit.cost_seconds - CLOCK_SLACK
    # and none began before the one before it had ended: commits are serialized, so the
    # spacing between commits grows with the KB written.
    for earlier, later in itertools.pairwise(commits):
        assert later.started_at >= earlier.ended_at
        assert later.ended_at - earlier.ended_at >= later.cost_seconds - CLOCK_SLACK
    assert max(c.cost_seconds for c in commits) > 0.05 + 0.01 * 20


def test_a_batch_commits_once_for_all_its_sqls_and_rows(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT, b VARCHAR(10))")
    data_api.set_model("primary", PER_KB)
    sqls = [
        "INSERT INTO t VALUES (:a, :b), (2, :b)",
        "INSERT INTO t VALUES (3, 'c'), (4, :b), (5, :b)",
        "SELECT count(*) FROM t",
    ]
    response = redshift_data.batch_execute_statement(
        Sqls=sqls, Parameters=params(a="1", b="shared"), **CLUSTER
    )
    assert wait_for(redshift_data, response["Id"], TERMINAL)["Status"] == "FINISHED"

    (commit,) = data_api.stats("primary").commits[1:]
    assert commit.rows == 5
    assert commit.written_bytes == sum(map(len, sqls)) + len("1") + len("shared")
    assert commit.cost_seconds == pytest.approx(0.05 + 0.01 * commit.written_bytes / KB)


def test_reads_queue_for_no_commit_and_failures_commit_nothing(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.set_model("primary", replace(PER_KB, one_writer_per_table=True))

    assert run(redshift_data, "SELECT count(*) FROM t")["Status"] == "FINISHED"
    failed = run(redshift_data, "INSERT INTO t VALUES (:a)", Parameters=params(a="not a number"))
    assert failed["Status"] == "FAILED"
    assert run(redshift_data, "INSERT INTO t VALUES (1)")["Status"] == "FINISHED"

    stats = data_api.stats("primary")
    assert [c.rows for c in stats.commits[1:]] == [1]  # only the INSERT that worked
    # The failed INSERT failed on PostgreSQL before it asked for the table's lock (an append
    # runs first); the next writer took it without waiting and gave it back.
    assert [(h.released_at is not None, h.waited) for h in stats.write_locks] == [(True, False)]


# ---- latency ------------------------------------------------------------------------------------


def test_latency_is_paid_by_every_statement(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_model("primary", replace(FAST, latency_seconds=0.3))
    assert run(redshift_data, "SELECT 1")["Duration"] >= 300_000_000
    batch = redshift_data.batch_execute_statement(Sqls=["SELECT 1", "SELECT 2"], **CLUSTER)
    assert wait_for(redshift_data, batch["Id"], TERMINAL)["Duration"] >= 300_000_000


# ---- one writer per table -----------------------------------------------------------------------

# A DELETE reads what it writes, so this transaction takes t's lock at its first write and holds
# it while PostgreSQL runs the rest (an INSERT ... VALUES alone would run before asking for it).
_LOCKS_AT_FIRST_WRITE = ("INSERT INTO t VALUES (1)", "DELETE FROM t WHERE a < 0")


@contextmanager
def _reads_blocked(data_api: LocalDataApi) -> Iterator[str]:
    """A read that waits inside PostgreSQL until the block ends: a transaction that makes it
    after its first write holds its table's write lock for as long as the test says."""
    with data_api.connect("primary", "dev") as conn:
        conn.execute("CREATE TABLE blocker (a INT)")
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE")
        try:
            yield "SELECT count(*) FROM blocker"
        finally:
            conn.execute("COMMIT")


def _held(data_api: LocalDataApi, statement_id: str) -> WriteLockHold:
    deadline = time.monotonic() + 10
    while True:
        holds = [h for h in data_api.stats("primary").write_locks if h.statement_id == statement_id]
        if holds:
            return holds[0]
        assert time.monotonic() < deadline, f"{statement_id} never took its lock"
        time.sleep(0.01)


def _in_line(data_api: LocalDataApi, statement_id: str) -> None:
    deadline = time.monotonic() + 10
    while statement_id not in data_api.stats("primary").waiting_writers:
        assert time.monotonic() < deadline, f"{statement_id} never waited for a lock"
        time.sleep(0.01)


def test_two_writers_of_one_table_never_overlap(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.set_model("primary", LOCKED)
    with _reads_blocked(data_api) as blocked_read:
        # Given a transaction that wrote t and now waits inside PostgreSQL
        first = redshift_data.batch_execute_statement(
            Sqls=[*_LOCKS_AT_FIRST_WRITE, blocked_read], **CLUSTER
        )["Id"]
        assert _held(data_api, first).released_at is None
        # When a second writer of t arrives, and a third
        second = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (2)", **CLUSTER)["Id"]
        _in_line(data_api, second)
        third = redshift_data.execute_statement(Sql="DELETE FROM t WHERE a = 1", **CLUSTER)["Id"]
        _in_line(data_api, third)
        assert redshift_data.describe_statement(Id=second)["Status"] == "STARTED"
    ended = [wait_for(redshift_data, i, TERMINAL)["Status"] for i in (first, second, third)]

    # Then they took the table in the order they asked for it, one after the other
    assert ended == ["FINISHED"] * 3
    holds = data_api.stats("primary").write_locks
    assert [h.statement_id for h in holds] == [first, second, third]
    assert [h.waited for h in holds] == [False, True, True]
    for earlier, later in itertools.pairwise(holds):
        assert earlier.released_at is not None
        assert later.acquired_at >= earlier.released_at
    with data_api.connect("primary", "dev") as conn:
        assert conn.execute("SELECT a FROM t").fetchall() == [(2,)]


def test_writers_of_other_tables_do_not_wait_and_a_waiting_writer_can_be_cancelled(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    run(redshift_data, "CREATE TABLE t (a INT)")
    run(redshift_data, "CREATE TABLE u (a INT)")
    data_api.set_model("primary", LOCKED)
    with _reads_blocked(data_api) as blocked_read:
        first = redshift_data.batch_execute_statement(
            Sqls=[*_LOCKS_AT_FIRST_WRITE, blocked_read], **CLUSTER
        )["Id"]
        _held(data_api, first)
        # A writer of another table, and of the same table in another database, run meanwhile
        other_table = run(redshift_data, "INSERT INTO u VALUES (1)")
        analytics = {**CLUSTER, "Database": "analytics"}
        run(redshift_data, "CREATE TABLE t (a INT)", analytics)
        other_database = run(redshift_data, "INSERT INTO t VALUES (1)", analytics)
        assert (other_table["Status"], other_database["Status"]) == ("FINISHED", "FINISHED")
        assert redshift_data.describe_statement(Id=first)["Status"] == "STARTED"
        # and a writer in line for t can be cancelled there
        waiting = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (2)", **CLUSTER)["Id"]
        _in_line(data_api, waiting)
        assert redshift_data.cancel_statement(Id=waiting)["Status"] is True
        assert wait_for(redshift_data, waiting, TERMINAL)["Status"] == "ABORTED"
    assert wait_for(redshift_data, first, TERMINAL)["Status"] == "FINISHED"

    stats = data_api.stats("primary")
    assert stats.waiting_writers == ()
    assert [(h.table, h.waited) for h in stats.write_locks] == [
        ("dev.public.t", False),
        ("dev.public.u", False),
        ("analytics.public.t", False),
    ]


def test_fast_has_no_table_lock_and_a_model_without_one_lets_waiters_go(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    assert not FAST.one_writer_per_table
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.set_model("primary", LOCKED)
    with _reads_blocked(data_api) as blocked_read:
        first = redshift_data.batch_execute_statement(
            Sqls=[*_LOCKS_AT_FIRST_WRITE, blocked_read], **CLUSTER
        )["Id"]
        _held(data_api, first)
        waiting = redshift_data.execute_statement(Sql="INSERT INTO t VALUES (2)", **CLUSTER)["Id"]
        _in_line(data_api, waiting)
        # When the model drops the lock (as the benchmark's drain does), the waiter goes on
        data_api.set_model("primary", FAST)
        assert wait_for(redshift_data, waiting, TERMINAL)["Status"] == "FINISHED"
    assert wait_for(redshift_data, first, TERMINAL)["Status"] == "FINISHED"


def test_an_append_runs_on_postgresql_before_it_takes_its_tables_lock(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # Given an INSERT ... VALUES transaction that waits inside PostgreSQL (this machine's time)
    run(redshift_data, "CREATE TABLE t (a INT)")
    data_api.set_model("primary", LOCKED)
    with _reads_blocked(data_api) as blocked_read:
        first = redshift_data.batch_execute_statement(
            Sqls=["INSERT INTO t VALUES (1)", blocked_read], **CLUSTER
        )["Id"]
        time.sleep(0.2)
        # When another writer of t arrives meanwhile, it takes the lock and commits at once
        second = run(redshift_data, "INSERT INTO t VALUES (2)")
        assert second["Status"] == "FINISHED"
        assert redshift_data.describe_statement(Id=first)["Status"] == "STARTED"
        assert all(h.statement_id != first for h in data_api.stats("primary").write_locks)
    assert wait_for(redshift_data, first, TERMINAL)["Status"] == "FINISHED"

    # Then neither waited for the other: the blocked time was never spent holding the lock
    holds = data_api.stats("primary").write_locks
    assert [(h.statement_id, h.waited) for h in holds] == [(second["Id"], False), (first, False)]


def test_a_copy_from_a_file_is_charged_per_file_and_per_kb_and_its_rows_are_stamped(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    # Given a 3-row CSV file that PostgreSQL's server process may read (pytest's own temporary
    # directories are private to this user)
    run(redshift_data, "CREATE TABLE t (a INT, b VARCHAR(10))")
    data_api.set_model("primary", replace(PER_KB, copy_seconds_per_file=0.07))
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        path = Path(folder) / "load.csv"
        path.write_text("1,x\n2,y\n3,z\n")
        path.chmod(0o644)
        size = path.stat().st_size

        # When it is loaded with COPY
        sql = f"COPY t (a, b) FROM '{path}' WITH (FORMAT csv)"
        assert run(redshift_data, sql)["Status"] == "FINISHED"

    # Then its commit paid the fixed part, the file and the file's KB, and holds its rows
    (commit,) = data_api.stats("primary").commits[1:]
    assert (commit.rows, commit.files) == (3, 1)
    assert commit.written_bytes == len(sql) + size
    assert commit.cost_seconds == pytest.approx(0.05 + 0.07 + 0.01 * commit.written_bytes / KB)
    # and PostgreSQL stamped each row with the transaction id the record carries
    with data_api.connect("primary", "dev") as conn:
        stamps = {int(row[0]) for row in conn.execute("SELECT xmin::text FROM t").fetchall()}
    assert stamps == {commit.transaction_id}


@pytest.mark.parametrize(
    ("sqls", "appends"),
    [
        (["INSERT INTO t VALUES (1)"], True),
        (["SELECT 1 / 1", 'insert into "S"."T" (a, b) values (:a, :b)'], True),
        (["COPY s.t (a) FROM '/tmp/f.csv' WITH (FORMAT csv)"], True),
        (["INSERT INTO t SELECT * FROM u"], False),
        (["INSERT INTO t VALUES (1)", "DELETE FROM t WHERE a = 1"], False),
        (["UPDATE t SET a = 1"], False),
        (["SELECT 1"], False),
    ],
)
def test_which_transactions_only_append(sqls: list[str], appends: bool) -> None:
    assert appends_only(sqls) is appends


def test_a_copy_names_the_files_it_loads_with_their_sizes(tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("copy") / "it's.csv"
    path.write_text("12345")
    quoted = str(path).replace("'", "''")
    sqls = [f"COPY t FROM '{quoted}' CSV", "COPY t FROM '/no/such/file' CSV", "SELECT 1"]
    assert loaded_files(sqls) == {str(path): 5, "/no/such/file": 0}
