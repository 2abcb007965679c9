"""calibrate's own logic without a Data API: the fit, the statements, the rate estimate, the
target and the budget."""

from __future__ import annotations

import re

import pytest

from calibrate.dataapi import Budget, Target
from calibrate.fit import Line, fit_line
from calibrate.measure import (
    LevelResult,
    Plan,
    Sample,
    ShapeResult,
    analyse,
    is_saturated,
    latest_by_shape,
    level_result,
)
from calibrate.workload import (
    STATEMENT_MAX_BYTES,
    Shape,
    build_transaction,
    create_table_sql,
    drop_table_sql,
    scratch_table,
    validate_identifier,
)

# ---- fit ----------------------------------------------------------------------------------


def test_a_fit_recovers_an_exact_line() -> None:
    line = fit_line([(2.0, 0.051), (100.0, 0.1), (400.0, 0.25)])
    assert line.intercept == pytest.approx(0.05)
    assert line.slope == pytest.approx(0.0005)
    assert line.at(1000) == pytest.approx(0.55)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(10.0, 0.2)], Line(0.2, 0.0)),  # one size: no slope to see
        ([(10.0, 0.2), (10.0, 0.4)], Line(0.3, 0.0)),  # one size twice
        ([(1.0, 0.3), (100.0, 0.1)], Line(0.2, 0.0)),  # shrinking with size: noise, the mean
        ([(100.0, 0.1), (200.0, 0.3)], Line(0.0, 0.0014)),  # would cross zero: through origin
    ],
)
def test_a_fit_never_gives_a_negative_cost(
    points: list[tuple[float, float]], expected: Line
) -> None:
    line = fit_line(points)
    assert line.intercept == pytest.approx(expected.intercept)
    assert line.slope == pytest.approx(expected.slope)


def test_a_fit_needs_points() -> None:
    with pytest.raises(ValueError, match="no points"):
        fit_line([])


# ---- the statements ---------------------------------------------------------------------


def test_the_scratch_table_is_fresh_and_named_for_what_it_is() -> None:
    first, second = scratch_table("public"), scratch_table("public")
    assert re.fullmatch(r"public\.ingest_calibrate_[0-9a-f]{8}", first)
    assert first != second
    assert create_table_sql(first).startswith(f"CREATE TABLE {first} (event_id VARCHAR(64)")
    assert "SUPER" in create_table_sql(first)
    assert "DECIMAL(18,6)" in create_table_sql(first)
    assert drop_table_sql(first) == f"DROP TABLE IF EXISTS {first}"


@pytest.mark.parametrize("name", ["Public", "a-b", "x; DROP TABLE y", "", "1abc", "a" * 128])
def test_identifiers_other_than_plain_lower_case_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="--schema must be a lower-case"):
        validate_identifier(name, "--schema")
    with pytest.raises(ValueError, match="--schema"):
        scratch_table(name)


@pytest.mark.parametrize(
    "shape",
    [Shape("1 row", 1), Shape("100 KB", None), Shape("4 x 100 KB", None, statements=4)],
    ids=lambda s: s.label,
)
def test_transactions_carry_values_only_as_parameters_within_the_size_limit(shape: Shape) -> None:
    table = "public.ingest_calibrate_0123abcd"
    transaction = build_transaction(table, shape)
    assert len(transaction.sqls) == shape.statements
    names = [name for name, _ in transaction.parameters]
    assert len(names) == len(set(names))  # unique across the transaction's SQLs
    used: list[str] = []
    for sql in transaction.sqls:
        assert sql.startswith(f"INSERT INTO {table} (event_id,")
        assert "'" not in sql
        assert not any(value in sql for _, value in transaction.parameters)
        own = re.findall(r":(p\d+)", sql)
        used += own
        own_values = {n: v for n, v in transaction.parameters if n in set(own)}
        size = len(sql) + sum(len(n) + len(v.encode()) for n, v in own_values.items())
        assert size <= STATEMENT_MAX_BYTES
    assert sorted(used) == sorted(names)  # every parameter used, once
    assert transaction.size_bytes <= shape.statements * STATEMENT_MAX_BYTES
    if shape.rows_per_statement is None:
        # Full statements: the next row would not have fitted
        assert transaction.size_bytes > shape.statements * (STATEMENT_MAX_BYTES - 2_000)
        assert 50 <= transaction.rows / shape.statements <= 60  # like the function's ~57
    else:
        assert transaction.rows == 1
    assert transaction.data_api_parameters()[0] == {
        "name": "p0",
        "value": transaction.parameters[0][1],
    }


def test_typed_columns_take_the_functions_casts() -> None:
    sql = build_transaction("s.t", Shape("1 row", 1)).sqls[0]
    assert sql.endswith(
        "VALUES (:p0,:p1,:p2,:p3,CAST(:p4 AS TIMESTAMP),CAST(:p5 AS DECIMAL(18,6)),JSON_PARSE(:p6))"
    )


def test_two_transactions_never_repeat_a_value() -> None:
    shape = Shape("1 row", 1)
    first = dict(build_transaction("s.t", shape).parameters)
    second = dict(build_transaction("s.t", shape).parameters)
    assert first["p0"] != second["p0"]
    assert first["p3"] != second["p3"]


# ---- the rate estimate ------------------------------------------------------------------


def run(*spans: tuple[float, float]) -> list[Sample]:
    return [Sample(created, finished, rows=10, kb=20.0) for created, finished in spans]


def test_writers_bound_by_latency_in_lockstep() -> None:
    # Two writers, 1 s each, 3 transactions each, ending together at 1, 2, 3
    runs = [run((0, 1), (1, 2), (2, 3)), run((0, 1), (1, 2), (2, 3))]
    level = level_result(2, runs, complete=True)
    assert level.commits_per_second == pytest.approx(2.0)
    assert level.rows_per_second == pytest.approx(20.0)
    assert level.mean_latency == pytest.approx(1.0)
    assert (level.transactions, level.rows, level.kb) == (6, 60, 120.0)


def test_writers_queueing_for_a_serialized_commit() -> None:
    # Three writers, one commit every 0.5 s in turn: each waits for the other two
    runs = [
        run((0, 0.5), (0.5, 2.0), (2.0, 3.5)),
        run((0, 1.0), (1.0, 2.5), (2.5, 4.0)),
        run((0, 1.5), (1.5, 3.0), (3.0, 4.5)),
    ]
    level = level_result(3, runs, complete=True)
    # Steady window (1.5, 3.5]: commits at 2.0, 2.5, 3.0, 3.5
    assert level.commits_per_second == pytest.approx(2.0)


def test_one_transaction_per_writer_uses_the_whole_span() -> None:
    level = level_result(2, [run((0, 2)), run((0, 2))], complete=False)
    assert level.commits_per_second == pytest.approx(1.0)
    assert not level.complete


def test_no_transactions_no_rate() -> None:
    level = level_result(2, [[], []], complete=False)
    assert (level.commits_per_second, level.transactions, level.rows_per_second) == (0, 0, 0)


@pytest.mark.parametrize(
    ("most", "levels"),
    [(1, (1,)), (2, (1, 2)), (3, (1, 2, 3)), (8, (1, 2, 4, 8)), (12, (1, 2, 4, 8, 12))],
)
def test_the_ramp_doubles_up_to_the_most_writers(most: int, levels: tuple[int, ...]) -> None:
    assert Plan(max_concurrency=most).levels() == levels


def level(writers: int, rate: float, kb: float, latency: float = 0.5) -> LevelResult:
    return LevelResult(writers, 10, 100, 10 * kb, rate, latency, complete=True)


@pytest.mark.parametrize(
    ("rates", "saturated"),
    [
        ((0.6,), False),  # one level: nothing to compare
        ((0.6, 1.15), False),  # doubling the writers nearly doubled the rate
        ((0.6, 1.15, 2.1, 4.3, 7.9, 11.6), True),  # 32 writers at 0.6/s would make 19/s: queueing
        ((0.6, 1.15, 2.1, 4.3, 7.4, 7.2), True),  # no gain
        ((5.0, 9.0, 9.5), True),  # less than 10% more
        ((5.0, 9.0, 16.0), False),  # 4 writers at 5/s would make 20/s: 80%, little queueing
        ((5.0, 9.0, 14.0), True),  # 70%: queueing
    ],
)
def test_saturation_is_a_rate_that_stopped_growing_or_writers_that_queue(
    rates: tuple[float, ...], saturated: bool
) -> None:
    levels = [level(2**i, rate, 100.0) for i, rate in enumerate(rates)]
    assert is_saturated(levels) is saturated


def test_analysis_fits_the_shapes_top_rates() -> None:
    # Given three sizes whose top commit rates are 1 / (0.05 + 0.0005 x KB)
    shapes = [
        ShapeResult(
            Shape(f"{kb} KB", None),
            (level(1, 1.0, kb, latency=0.5 + kb / 1000), level(2, 1 / (0.05 + 0.0005 * kb), kb)),
            saturated=True,
        )
        for kb in (2.0, 100.0, 400.0)
    ]
    measurements = analyse(shapes)
    assert measurements is not None
    assert measurements.saturated
    profile = measurements.profile()
    assert profile is not None
    assert profile.commit_fixed_seconds == pytest.approx(0.05)
    assert profile.commit_seconds_per_kb == pytest.approx(0.0005)
    # Latency from the one-writer level
    assert profile.latency_seconds == pytest.approx(0.5)
    assert profile.latency_seconds_per_kb == pytest.approx(0.001)


def test_an_unsaturated_shape_marks_the_measurements() -> None:
    shapes = [
        ShapeResult(Shape("a", 1), (level(1, 2.0, 2.0),), saturated=False),
        ShapeResult(Shape("b", None), (level(1, 2.0, 100.0), level(2, 2.05, 100.0)), True),
    ]
    measurements = analyse(shapes)
    assert measurements is not None
    assert not measurements.saturated


def test_nothing_measured_is_no_measurement() -> None:
    assert analyse([]) is None
    assert analyse([ShapeResult(Shape("a", 1), (level(1, 0.0, 0.0),), False)]) is None
    assert analyse([ShapeResult(Shape("a", 1), (level(1, 1.0, 2.0),), False)]) is not None
    empty = LevelResult(1, 0, 0, 0.0, 0.0, 0.0, complete=False)
    assert analyse([ShapeResult(Shape("a", 1), (empty,), False)]) is None


def test_the_latest_result_of_each_shape_counts() -> None:
    a1 = ShapeResult(Shape("a", 1), (level(1, 1.0, 2.0),), False)
    a2 = ShapeResult(Shape("a", 1), (level(1, 1.0, 2.0), level(2, 2.0, 2.0)), False)
    b1 = ShapeResult(Shape("b", None), (level(1, 1.0, 100.0),), False)
    assert latest_by_shape([a1, a2, b1]) == [a2, b1]


# ---- target and budget ------------------------------------------------------------------


def test_a_cluster_target_names_the_cluster_and_its_credentials() -> None:
    target = Target(database="dev", cluster_identifier="c1", db_user="ingest")
    assert target.request() == {"Database": "dev", "ClusterIdentifier": "c1", "DbUser": "ingest"}
    assert target.describe() == "cluster c1, database dev (db user ingest)"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"
    workgroup = Target(database="dev", workgroup_name="wg", secret_arn=arn)
    assert workgroup.request() == {"Database": "dev", "WorkgroupName": "wg", "SecretArn": arn}
    assert Target(database="dev", workgroup_name="wg").describe() == (
        "workgroup wg, database dev (IAM)"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cluster_identifier": "c", "workgroup_name": "w", "db_user": "u"}, "exactly one of"),
        ({}, "exactly one of --cluster-id and --workgroup"),
        ({"cluster_identifier": "c"}, "--db-user and --secret-arn"),
        ({"cluster_identifier": "c", "db_user": "u", "secret_arn": "a"}, "--db-user and"),
        ({"workgroup_name": "w", "db_user": "u"}, "--db-user is for clusters"),
    ],
)
def test_incomplete_or_ambiguous_targets_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Target(database="dev", **fields)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_stops_at_the_statement_count() -> None:
    budget = Budget(60, 3, clock=Clock())
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
    assert budget.spent == "--max-statements reached"


def test_the_budget_stops_at_the_deadline() -> None:
    clock = Clock()
    budget = Budget(60, 1000, clock=clock)
    assert budget.take()
    clock.now += 60
    assert not budget.take()
    assert budget.spent == "--budget-seconds reached"
