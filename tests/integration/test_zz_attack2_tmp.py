"""Hostile end-to-end attacks (temporary)."""
from __future__ import annotations

import copy
import json
import logging
from decimal import Decimal
from typing import Any

import pytest

import app
from tests.integration.conftest import ADDRESS, PRIMARY, SECONDARY, Stack, configure
from tests.integration.test_any_table import ORDERS, create_orders, order, orders_event, stored, use_orders
from tests.integration.test_redshift_words import REDSHIFT_INVALID_DIGIT
from tests.support import sqs_record

pytestmark = pytest.mark.integration
P, S = "primary-cluster", "secondary-wg"


def counts(stack: Stack, target: str) -> dict[str, int]:
    with stack.data_api.connect(ADDRESS[target], "dev") as conn:
        return dict(conn.execute(f"SELECT sqs_message_id, count(*) FROM {ORDERS} GROUP BY 1").fetchall())


def redeliver(event: dict[str, Any], n: int = 2, only: list[str] | None = None) -> dict[str, Any]:
    ev = copy.deepcopy(event)
    if only is not None:
        ev["Records"] = [r for r in ev["Records"] if r["messageId"] in only]
    for r in ev["Records"]:
        r["attributes"]["ApproximateReceiveCount"] = str(n)
    return ev


def check_values(stack: Stack, target: str, event: dict[str, Any]) -> None:
    sent = {r["messageId"]: json.loads(r["body"], parse_float=Decimal) for r in event["Records"]}
    rows = stored(stack, target, "sqs_message_id, order_id, customer_id, amount::text AS amount, extra::text AS extra")
    for row in rows:
        body = sent.get(row["sqs_message_id"])
        if body is None:
            continue
        assert row["order_id"] == body["order_id"], (row, body)
        assert row["customer_id"] == body["customer"]["id"]
        assert row["amount"] == body["amount"]
        extra = json.loads(row["extra"], parse_float=Decimal)
        assert extra.get("note") == body.get("note"), (extra.get("note"), body.get("note"))


def big(i: int, size: int = 3000, **kw: Any) -> dict[str, Any]:
    return order(i, note=f"n{i}-" + "x" * size, **kw)


def letters_of(stack: Stack) -> dict[str, dict[str, str]]:
    return stack.dead_letters()


# (a) Redshift-worded refusal of one value on primary + lost Batch replies on secondary
def test_a_refusal_plus_lost_replies_then_redelivery(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    create_orders(stack)
    use_orders(monkeypatch)
    stack.read_tables()
    stack.data_api.refuse_values(P, "o-3", REDSHIFT_INVALID_DIGIT)
    stack.data_api.lose_reply_next(S, 3, "BatchExecuteStatement")
    event = orders_event(*(order(i) for i in range(8)))
    failures = stack.invoke(event)
    print("a: failures", failures, counts(stack, "primary"), counts(stack, "secondary"))
    letters = letters_of(stack)
    print("a: letters", {m: (a["reason"], a["failed_targets"]) for m, a in letters.items()})
    # redeliver the whole batch (the response may have been lost)
    failures2 = stack.invoke(redeliver(event))
    print("a: failures2", failures2)
    letters2 = letters_of(stack)
    print("a: letters2", {m: (a["reason"], a["failed_targets"]) for m, a in letters2.items()})
    pc, sc = counts(stack, "primary"), counts(stack, "secondary")
    print("a:", pc, sc)
    assert all(v == 1 for v in pc.values()) and all(v == 1 for v in sc.values())
    assert "order-msg-3" not in pc
    assert len(sc) == 8
    check_values(stack, "primary", event)
    check_values(stack, "secondary", event)


# (b) fail_after_commit on a multi-transaction batch
@pytest.mark.parametrize("variant", ["plain", "lost_then_redeliver", "presence_fails", "two_faults"])
def test_b_fail_after_commit(stack: Stack, monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    create_orders(stack)
    use_orders(monkeypatch, STATEMENT_MAX_BYTES="8192", STATEMENTS_PER_TRANSACTION="2")
    stack.read_tables()
    if variant == "two_faults":
        stack.data_api.fail_after_commit_next(P, 3)
    else:
        stack.data_api.fail_after_commit_next(P, 1)
    if variant == "lost_then_redeliver":
        stack.data_api.lose_reply_next(P, 1, "BatchExecuteStatement")
    if variant == "presence_fails":
        stack.data_api.server_fault_next(P, 5, "InternalServerException", "ExecuteStatement")
    event = orders_event(*(big(i) for i in range(12)))
    failures = stack.invoke(event)
    calls = stack.data_api.api_calls()
    print("b", variant, "failures", failures, "calls", calls)
    print("b counts", counts(stack, "primary"), counts(stack, "secondary"))
    for _ in range(3):
        if not failures:
            break
        failures = stack.invoke(redeliver(event, only=failures))
    failures = stack.invoke(redeliver(event, 5))  # whole-batch redelivery again
    assert failures == []
    for t in ADDRESS:
        c = counts(stack, t)
        assert c == {f"order-msg-{i}": 1 for i in range(12)}, (t, c)
        check_values(stack, t, event)
    assert letters_of(stack) == {}


# (c) column re-created across invocations and during a redelivered batch
@pytest.mark.parametrize(
    ("column", "before", "after", "value"),
    [
        ("refund", "DECIMAL(12,2)", "DECIMAL(12,1)", "7.25"),
        ("shipped_at", "TIMESTAMP", "DATE", "2024-05-01T10:30:00"),
        ("label", "VARCHAR(20)", "VARCHAR(3)", "abcdefgh"),
    ],
)
def test_c_recreated_during_redelivery(stack: Stack, monkeypatch: pytest.MonkeyPatch, column: str, before: str, after: str, value: str) -> None:
    create_orders(stack)
    for a in ADDRESS.values():
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} ADD COLUMN {column} {before}")
    use_orders(monkeypatch)
    event = orders_event(*(order(i, **{column: value}) for i in range(4)))
    stack.data_api.lose_reply_next(P, 1, "BatchExecuteStatement")
    stack.data_api.fail_next(S, 1, "ERROR: connection lost")
    f1 = stack.invoke(event)
    print("c f1", f1, counts(stack, "primary"), counts(stack, "secondary"))
    for a in ADDRESS.values():
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} DROP COLUMN {column}")
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} ADD COLUMN {column} {after}")
    ev2 = redeliver(event)
    ev2["Records"] += orders_event(*(order(i, **{column: value}) for i in range(4, 6)), start=4)["Records"]
    f2 = stack.invoke(ev2)
    print("c f2", f2, counts(stack, "primary"), counts(stack, "secondary"))
    letters = letters_of(stack)
    print("c letters", {m: (a["reason"], a["failed_targets"]) for m, a in letters.items()})
    for t in ADDRESS:
        assert all(v == 1 for v in counts(stack, t).values())
        for r in stored(stack, t, f"sqs_message_id, {column}::text AS v"):
            assert r["v"] is None or r["v"] in (value, value.replace("T", " ")), (t, r)


# (c') a one-off failure of the guard SQL drops the guard for the container's life
def test_c_guard_dropped_by_one_blip(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    create_orders(stack)
    for a in ADDRESS.values():
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} ADD COLUMN refund DECIMAL(12,2)")
    use_orders(monkeypatch)
    stack.read_tables()
    # one statement fails once, in a value error's words (e.g. a hiccup) -> part 0 = the guard
    stack.data_api.fail_next(P, 1, REDSHIFT_INVALID_DIGIT)
    assert stack.invoke(orders_event(order(0, refund="1.00"))) == []
    for a in ADDRESS.values():
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} DROP COLUMN refund")
        stack.data_api.execute_ddl(a, "dev", f"ALTER TABLE {ORDERS} ADD COLUMN refund DECIMAL(12,1)")
    f = stack.invoke(orders_event(order(1, refund="7.25"), start=1))
    print("guard-blip", f, letters_of(stack))
    for t in ADDRESS:
        rows = {r["order_id"]: r["v"] for r in stored(stack, t, "order_id, refund::text AS v")}
        print(t, rows)
        assert rows.get("o-1") in (None, "7.25"), (t, rows)


# (d) parameterised failures past SOURCE_MAX_RECEIVE_COUNT, then redrive
def test_d_receives_exhausted_then_redrive(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    create_orders(stack)
    use_orders(monkeypatch, SOURCE_MAX_RECEIVE_COUNT="3")
    stack.read_tables()
    stack.data_api.fail_parameterised(P, REDSHIFT_INVALID_DIGIT)
    event = orders_event(*(order(i) for i in range(5)))
    for n in (1, 2):
        f = stack.invoke(redeliver(event, n))
        print("d receive", n, f)
        assert letters_of(stack) == {}
    f = stack.invoke(redeliver(event, 3))
    print("d receive 3", f)
    msgs = stack.dead_letter_messages()
    print("d letters", [(m["MessageAttributes"]["reason"]["StringValue"], m["MessageAttributes"]["failed_targets"]["StringValue"]) for m in msgs])
    assert len(msgs) == 5
    stack.data_api.clear_parameterised(P)
    recs = []
    for i, m in enumerate(msgs):
        rec = sqs_record(m["Body"], f"redriven-{i}", 1)
        rec["messageAttributes"] = {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]} for k, v in m["MessageAttributes"].items()}
        recs.append(rec)
    f = stack.invoke({"Records": recs})
    print("d redrive", f, counts(stack, "primary"), counts(stack, "secondary"))
    # redrive again (duplicate redrive)
    f = stack.invoke({"Records": copy.deepcopy(recs)})
    assert f == []
    for t in ADDRESS:
        assert counts(stack, t) == {f"order-msg-{i}": 1 for i in range(5)}, t
        check_values(stack, t, event)
    assert letters_of(stack) == {}


# (e) size refusals
@pytest.mark.parametrize("kind", ["413", "413html", "odd400", "limit"])
def test_e_size_refusals(stack: Stack, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    create_orders(stack)
    use_orders(monkeypatch)
    stack.read_tables()
    if kind == "413":
        stack.data_api.refuse_size_next(P, 4, status=413)
    elif kind == "413html":
        stack.data_api.refuse_size_next(P, 4, "<html><body>413 Request Entity Too Large</body></html>", status=413, html=True)
    elif kind == "odd400":
        stack.data_api.refuse_size_next(P, 4, "Request payload exceeds the maximum allowed size")
    else:
        stack.data_api.set_max_request_bytes(40_000)
    event = orders_event(*(big(i, 2000) for i in range(120)))
    f = stack.invoke(event)
    calls = stack.data_api.api_calls()
    print("e", kind, "failures", len(f), "calls", calls)
    for _ in range(3):
        if not f:
            break
        f = stack.invoke(redeliver(event, only=f))
    letters = letters_of(stack)
    print("e letters", {m: (a["reason"], a["failed_targets"]) for m, a in letters.items()})
    for t in ADDRESS:
        assert counts(stack, t) == {f"order-msg-{i}": 1 for i in range(120)}, t
        check_values(stack, t, event)
    assert sum(calls.values()) < 200, calls


ODD = [
    ":p000", ":g001", ":p0", "::p000", "$1", "?", "%s", "%(x)s", "code: 1023\nDETAIL: x", "ERROR: Invalid digit, Value 'x', Pos 0",
    "héllo wörld", "😀🎉𝄞", "\x01\x07\x1f\x7f", "line1\nline2\r\n\ttab", "\u2028\u2029", "'; DROP TABLE x; --", "\\", "\"quoted\"",
    "\ufeffbom", "a" * 60,
]


# (f) odd values
def test_f_odd_values(stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    create_orders(stack)
    use_orders(monkeypatch)
    bodies = [order(i, note=v, customer={"id": v[:60], "tier": v}) for i, v in enumerate(ODD)]
    # also the order_id itself odd
    bodies.append(order(99, order_id=":p001"))
    event = orders_event(*bodies)
    f = stack.invoke(event)
    letters = letters_of(stack)
    print("f", f, {m: (a["reason"], a["failed_targets"], a["reason_detail"]) for m, a in letters.items()})
    assert f == []
    for t in ADDRESS:
        c = counts(stack, t)
        print(t, len(c))
        assert all(v == 1 for v in c.values())
        check_values(stack, t, event)
        assert len(c) + len(letters) == len(bodies)


def test_f_odd_values_refused_logs(stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    create_orders(stack)
    use_orders(monkeypatch)
    secret = "SECRETVAL-code: 1023\nDETAIL: zz"
    stack.data_api.refuse_values(P, "SECRETVAL", REDSHIFT_INVALID_DIGIT.replace("'x'", "'SECRETVAL-code: 1023'").replace("context:   x", "context:   SECRETVAL"))
    event = orders_event(order(0), order(1, note=secret), order(2, customer={"id": "SECRETVAL2", "tier": "g"}, amount="x1"))
    f = stack.invoke(event)
    letters = letters_of(stack)
    print("f2", f, {m: (a["reason"], a["failed_targets"], a["reason_detail"]) for m, a in letters.items()})
    for m, a in letters.items():
        for k, v in a.items():
            if k != "body":
                assert "SECRETVAL" not in v, (k, v)
    for rec in caplog.records:
        assert "SECRETVAL" not in rec.getMessage(), rec.getMessage()


# (g) hung guarded transaction at the deadline + slow cancel
@pytest.mark.parametrize("outcome", ["ABORTED", "FINISHED"])
def test_g_hang_slow_cancel(stack: Stack, monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    create_orders(stack)
    use_orders(monkeypatch, STATEMENT_WAIT_SECONDS="2")
    stack.read_tables()
    stack.data_api.hang_next(P, 1)
    stack.data_api.slow_cancel_next(P, 1, 2.5, outcome)
    event = orders_event(*(order(i) for i in range(4)))
    try:
        f = stack.invoke(event, remaining_ms=12_000)
    except app.BatchNotProcessed as exc:
        f = [r["messageId"] for r in event["Records"]]
        print("g raised", exc)
    print("g", outcome, f, counts(stack, "primary"), counts(stack, "secondary"), stack.data_api.stats(P))
    for _ in range(3):
        if not f:
            break
        f = stack.invoke(redeliver(event, only=f))
    for t in ADDRESS:
        assert counts(stack, t) == {f"order-msg-{i}": 1 for i in range(4)}, t


# (h) killed invocation (tiny remaining time), then redelivery
@pytest.mark.parametrize("remaining", [3_200, 3_600, 4_500, 6_000])
def test_h_tiny_remaining(stack: Stack, monkeypatch: pytest.MonkeyPatch, remaining: int) -> None:
    create_orders(stack)
    use_orders(monkeypatch, STATEMENT_MAX_BYTES="8192", STATEMENTS_PER_TRANSACTION="2")
    stack.data_api.delay_reply_next("BatchExecuteStatement", 1.0, 2, P)
    event = orders_event(*(big(i) for i in range(10)))
    try:
        f = stack.invoke(event, remaining_ms=remaining)
    except app.BatchNotProcessed:
        f = [r["messageId"] for r in event["Records"]]
    print("h", remaining, f, counts(stack, "primary"), counts(stack, "secondary"))
    # kill: the response is lost; whole batch redelivered
    f = stack.invoke(redeliver(event))
    for _ in range(3):
        if not f:
            break
        f = stack.invoke(redeliver(event, 3, only=f))
    for t in ADDRESS:
        assert counts(stack, t) == {f"order-msg-{i}": 1 for i in range(10)}, t
        check_values(stack, t, event)
