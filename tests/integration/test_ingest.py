"""The real handler, in process, against the local Data API on PostgreSQL and moto's server."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import app
from ingest.records import Row, read_message
from ingest.schema import ColumnKind
from ingest.wiring import deadlines_for
from local.appsflyer import INSERT_COLUMNS, validate
from local.stack import LocalDataApi
from tests.integration.conftest import ADDRESS, PRIMARY, SECONDARY, Stack, configure
from tests.support import payload, sqs_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def expected_cell(kind: ColumnKind, value: Any) -> Any:
    """What PostgreSQL hands back for a validated value of a column kind."""
    if value is None or kind in (ColumnKind.VARCHAR, ColumnKind.BOOLEAN):
        return value
    if kind is ColumnKind.TIMESTAMP:
        return datetime.fromisoformat(value)
    if kind is ColumnKind.DECIMAL:
        return Decimal(value)
    return json.loads(value)


def test_clean_batch_lands_every_value_in_its_column_once_per_target(stack: Stack) -> None:
    # Given the sample clean batch (nulls, empty strings, JSON-string event_value, long agents)
    event = load_event("sqs-clean-batch.json")
    # When the handler runs
    assert stack.invoke(event) == []
    # Then each target holds each record once, every column equal to the validated value
    names = ", ".join(f'"{c.name}"' for c in INSERT_COLUMNS)
    for target, address in ADDRESS.items():
        assert stack.counts(target) == {r["messageId"]: 1 for r in event["Records"]}
        with stack.data_api.connect(address, "dev") as conn:
            for record in event["Records"]:
                row = validate(read_message(record))
                assert isinstance(row, Row)
                stored = conn.execute(
                    f"SELECT {names} FROM public.appsflyer_events WHERE sqs_message_id = %s",
                    (record["messageId"],),
                ).fetchone()
                assert stored is not None
                columns = zip(INSERT_COLUMNS, row.values, strict=True)
                expected = [expected_cell(c.kind, v) for c, v in columns]
                assert list(stored) == expected
    assert stack.dead_letters() == {}


def test_types_survive_the_round_trip(stack: Stack) -> None:
    body = payload(
        event_time="2024-02-29 23:59:59.999",
        install_time="2024-02-29T22:00:00+01:00",
        event_revenue="123456789012.123456",
        wifi="true",
        is_lat=False,
        event_value=json.dumps({"af_revenue": 1.5, "items": [{"id": "a"}], "ok": True}),
        user_agent="Mozilla/5.0 " + "é" * 900,  # 1,812 bytes: beyond Redshift's TEXT
        custom_field={"nested": ["x", 1]},
    )
    assert stack.invoke(sqs_event([body])) == []
    with stack.data_api.connect("primary-cluster", "dev") as conn:
        stored = conn.execute(
            "SELECT event_time, install_time, event_revenue, wifi, is_lat, event_value, "
            "user_agent, extra, ingested_at FROM public.appsflyer_events"
        ).fetchone()
    assert stored is not None
    assert stored[0] == datetime(2024, 2, 29, 23, 59, 59, 999000)
    assert stored[1] == datetime(2024, 2, 29, 21, 0, 0)  # converted to UTC
    assert stored[2] == Decimal("123456789012.123456")
    assert stored[3] is True
    assert stored[4] is False
    assert stored[5] == {"af_revenue": 1.5, "items": [{"id": "a"}], "ok": True}
    assert stored[6] == "Mozilla/5.0 " + "é" * 900
    assert stored[7] == {"custom_field": {"nested": ["x", 1]}}
    assert isinstance(stored[8], datetime)


def test_equal_values_in_columns_of_different_kinds_land_as_sent(stack: Stack) -> None:
    # Given one text in a VARCHAR column before a DECIMAL one, the DECIMAL, and a VARCHAR after
    # it: bound once for all three, PostgreSQL (and perhaps the Data API) would type it once,
    # failing the statement or storing "0" for "-0" in the text columns
    body = payload(customer_user_id="-0", event_revenue="-0", event_revenue_currency="-0")
    # When the handler runs
    assert stack.invoke(sqs_event([body])) == []
    # Then every column holds what was sent
    with stack.data_api.connect("primary-cluster", "dev") as conn:
        stored = conn.execute(
            "SELECT customer_user_id, event_revenue, event_revenue_currency "
            "FROM public.appsflyer_events"
        ).fetchall()
    assert stored == [("-0", Decimal(0), "-0")]


def test_poison_records_are_dead_lettered_with_reasons_while_the_rest_land(
    stack: Stack, data_api: LocalDataApi
) -> None:
    # Given a primary whose database refuses one city though its catalog allows it: a value
    # only the database rejects (what Redshift refuses and no catalog describes), which only
    # bisection can find
    data_api.refuse_values(
        "primary-cluster", "Rio de Janeiro", "ERROR: value too long for type character varying(8)"
    )
    event = load_event("sqs-mixed-batch.json")
    outcomes = json.loads((EVENTS / "expected-outcomes.json").read_text())
    poison: dict[str, str] = outcomes["sqs-mixed-batch.json"]["dead_lettered"]
    long_city = sqs_event([payload(city="Rio de Janeiro")], prefix="db-reject")
    event["Records"].extend(long_city["Records"])
    # When the handler runs
    assert stack.invoke(event) == []
    # Then every poison record is in the dead-letter queue with its reason and original body
    letters = stack.dead_letters()
    bodies = {r["messageId"]: r["body"] for r in event["Records"]}
    assert {m: letters[m]["reason"] for m in poison} == poison
    assert letters["db-reject-00000"]["reason"] == "rejected_by_database"
    assert letters["db-reject-00000"]["failed_targets"] == "primary"
    detail = letters["db-reject-00000"]["reason_detail"]
    assert "value too long for type character varying(8)" in detail
    assert set(letters) == set(poison) | {"db-reject-00000"}
    assert all(letters[m]["body"] == bodies[m] for m in letters)
    # And every good record is in both targets exactly once
    good = set(bodies) - set(poison) - {"db-reject-00000"}
    assert stack.counts("primary") == dict.fromkeys(good, 1)
    assert stack.counts("secondary") == dict.fromkeys(good | {"db-reject-00000"}, 1)


def test_secondary_failing_transiently_once_is_retried_inside_the_invocation(
    stack: Stack, data_api: LocalDataApi
) -> None:
    data_api.fail_next("secondary-wg", 1, "ERROR: could not connect to server: Connection refused")
    event = load_event("sqs-clean-batch.json")
    assert stack.invoke(event) == []
    ids = [r["messageId"] for r in event["Records"]]
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)


def test_secondary_failing_once_ends_with_each_row_once_in_both(
    stack: Stack, data_api: LocalDataApi
) -> None:
    # Given a secondary whose next statement fails for a reason no in-invocation retry fixes
    data_api.fail_next(
        "secondary-wg", 1, 'ERROR: permission denied for relation "appsflyer_events"'
    )
    event = load_event("sqs-clean-batch.json")
    ids = [r["messageId"] for r in event["Records"]]
    # When the batch runs, every record comes back (the primary took them, the secondary not)
    assert stack.invoke(event) == ids
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == {}
    # When SQS redelivers them
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert stack.invoke(event) == []
    # Then both targets hold each row exactly once
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)


def test_ten_thousand_records_fill_statements_near_the_limit(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY])
    template = load_event("sqs-large-batch.json")["Records"]
    bodies = [json.loads(template[i % len(template)]["body"]) for i in range(10_000)]
    event = sqs_event([{**b, "customer_user_id": f"user-{i}"} for i, b in enumerate(bodies)])
    calls = ("ExecuteStatement", "BatchExecuteStatement")
    calls_before = sum(data_api.api_calls().get(c, 0) for c in calls)

    assert stack.invoke(event) == []

    submits = sum(data_api.api_calls().get(c, 0) for c in calls) - calls_before
    with data_api.connect("primary-cluster", "dev") as conn:
        sizes = conn.execute("SELECT count(*) FROM public.appsflyer_events").fetchone()
    assert sizes == (10_000,)
    assert stack.counts("primary") == {r["messageId"]: 1 for r in event["Records"]}
    # Every statement stayed under the Data API's 100 KB (the server refuses larger ones), and
    # greedy packing left little room: at most one statement more than the byte total needs.
    batch = app.ingest()
    settings = batch.settings
    rows = [validate(read_message(r)) for r in event["Records"]]
    # The function's own renderer for the table: its limits as wiring derives them (39 INSERTs
    # after the column guard, REQUEST_MAX_BYTES per request).
    table = batch.tables.table_for(settings.targets[0], deadlines_for(settings, 60))
    rendering = table.renderer.render([r for r in rows if isinstance(r, Row)])
    assert all(s.size <= 100_000 for s in rendering.statements)
    total = sum(s.size for s in rendering.statements)
    minimum = -(-total // settings.statement_max_bytes)
    statements = len(rendering.statements)
    assert statements <= minimum + max(1, minimum // 20)
    # One submit reads the table's columns; each transaction of up to 39 INSERTs is one more
    assert submits == 1 + len(rendering.transactions)
    assert all(len(t.statements) <= 39 for t in rendering.transactions)
    assert all(t.request_bytes <= settings.request_max_bytes for t in rendering.transactions)


def test_quota_pressure_and_throttling_lose_nothing_and_duplicate_nothing(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY], STATEMENT_MAX_BYTES="20000", MAX_TRANSIENT_RETRIES="2")
    event = load_event("sqs-large-batch.json")
    ids = [r["messageId"] for r in event["Records"]]
    # Given a cluster that refuses more submits than one invocation will retry
    data_api.reject_next("primary-cluster", 2, "ActiveStatementsExceededException")
    data_api.reject_next("primary-cluster", 1, "ThrottlingException")
    data_api.reject_next("primary-cluster", 3, "ActiveStatementsExceededException")
    retried: list[str] = []
    for attempt in range(1, 6):
        for record in event["Records"]:
            record["attributes"]["ApproximateReceiveCount"] = str(attempt)
        try:
            retry = stack.invoke(event)
        except app.BatchNotProcessed:
            retry = [r["messageId"] for r in event["Records"]]
        if attempt == 1:
            retried = retry
        event["Records"] = [r for r in event["Records"] if r["messageId"] in retry]
        if not retry:
            break
    assert retried, "the first invocation should have handed records back"
    assert stack.counts("primary") == dict.fromkeys(ids, 1)


def test_statement_hanging_past_the_deadline_is_cancelled_and_its_records_returned(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY], STATEMENT_MAX_BYTES="30000", STATEMENTS_PER_TRANSACTION="1")
    stack.read_tables()
    event = load_event("sqs-clean-batch.json")
    event["Records"].extend(load_event("sqs-large-batch.json")["Records"][:30])
    ids = [r["messageId"] for r in event["Records"]]
    # Given a cluster where the second statement of the batch hangs (one INSERT per
    # transaction, so that the first one commits on its own)
    data_api.hang_next("primary-cluster", 1, after=1)
    # When the function has 25 s left: 3 s margin, 11.5 s for cancels and dead letters
    retry = stack.invoke(event, remaining_ms=25_000)
    # Then the rows of the first statement landed and exactly the others come back
    landed = stack.counts("primary")
    assert landed
    assert set(retry) == set(ids) - set(landed)
    assert all(count == 1 for count in landed.values())
    stats = data_api.stats("primary-cluster")
    assert stats.aborted == 1
    assert stats.active == 0


def test_everything_hanging_raises_so_lambda_backs_off(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, [PRIMARY])
    data_api.hang_next("primary-cluster", 1)
    with pytest.raises(app.BatchNotProcessed):
        stack.invoke(load_event("sqs-clean-batch.json"), remaining_ms=25_000)
    assert stack.counts("primary") == {}
    assert data_api.stats("primary-cluster").aborted == 1


def test_server_faults_on_submit_are_retried_and_nothing_doubles(
    stack: Stack, data_api: LocalDataApi
) -> None:
    # Given a primary whose next submit fails with a statement that exists, FAILED, and a
    # secondary whose next submit fails with no trace
    data_api.server_fault_next("primary-cluster", 1, "ExecuteStatementException")
    data_api.server_fault_next("secondary-wg", 1, "InternalServerException")
    event = load_event("sqs-clean-batch.json")
    ids = [r["messageId"] for r in event["Records"]]
    # When the handler runs, then every row is in each target exactly once
    assert stack.invoke(event) == []
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)
    assert stack.dead_letters() == {}


@pytest.mark.parametrize("fault", ["access denied", "mistyped workgroup"])
def test_a_secondary_the_function_cannot_reach_hands_its_records_back(
    stack: Stack, data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    if fault == "access denied":
        data_api.deny_access("secondary-wg")
    else:
        configure(monkeypatch, [PRIMARY, {**SECONDARY, "workgroup_name": "secondary-wg-typo"}])
    event = load_event("sqs-clean-batch.json")
    ids = [r["messageId"] for r in event["Records"]]
    # Every record comes back for the secondary; none is the records' fault
    assert stack.invoke(event) == ids
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == {}
    assert stack.dead_letters() == {}
