"""Second attack round: on the fixes of the first (bounded calls, control statement, quoted-text
stripping, identity read-back, early deletes, counted decoding). Each docstring tells the failure
as found; the test holds the fix (see __init__.py)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from ingest import exact_json
from ingest.bounded_call import call_within
from ingest.config import Target
from ingest.deadline import Deadline, Deadlines
from ingest.records import Rejection, SqsMessage
from ingest.redshift import CallTimes, DataApi
from ingest.source_queue import queue_url
from ingest.statement_runner import GaveUp, StatementRunner
from local.appsflyer import validate
from tests.support import payload
from tests.unit.fakes import FakeClock

TARGET = Target(name="primary", database="dev", cluster_identifier="c1", db_user="ingest")


def test_abandoned_calls_do_not_starve_later_calls_to_a_healthy_endpoint() -> None:
    """bounded_call runs every SDK call on one process-wide pool of 16 threads, and an abandoned
    call keeps its thread until botocore gives up on it. botocore's read timeout bounds each
    socket read, not the call (bounded_call's own docstring): an endpoint (or a proxy) that
    trickles its reply keeps the call, and its thread, alive for as long as it trickles; a
    GetStatementResult page or a DescribeStatement reply at one byte a second lasts many
    minutes. Sixteen such calls (eight invocations abandoning a describe and a result page each,
    or one invocation polling a trickling describe) fill the pool; from then on every call of
    every later invocation in this warm container waits in the pool's queue, is cancelled at its
    limit, and raises ReadTimeoutError, although the endpoint answers at once: every record is
    returned, invocation after invocation, until the trickles end or MaxReceiveCount moves good
    records to the source queue's own dead-letter queue (without a reason)."""
    trickle_ends = threading.Event()

    def trickling_reply() -> str:
        trickle_ends.wait(30.0)  # the reply keeps arriving, a byte at a time
        return "late"

    try:
        # Given sixteen calls given up on while their replies still trickle in
        for _ in range(16):
            with pytest.raises(ReadTimeoutError):
                call_within(0.05, trickling_reply)
        # When a later call goes to an endpoint that now answers at once, with ample time
        answer = call_within(2.0, lambda: "answer")
        # Then it gets its answer
        assert answer == "answer"
    finally:
        trickle_ends.set()


class _SubmitStillOnItsWay:
    """ExecuteStatement's request is slow to reach the service (a congested path, a TLS
    handshake retransmitted): the call is given up while the request is still travelling;
    ListStatements, asked meanwhile, does not know the statement yet. The request arrives
    later and the statement is created (and, an INSERT, commits)."""

    def __init__(self) -> None:
        self.arrive = threading.Event()
        self.created = threading.Event()

    def execute_statement(self, **_: Any) -> dict[str, Any]:
        self.arrive.wait(30.0)
        self.created.set()
        return {"Id": "arrived-late"}

    def list_statements(self, **_: Any) -> dict[str, Any]:
        return {"Statements": []}


def test_a_submit_given_up_while_in_flight_is_reported_unconfirmed() -> None:
    """call_within gives up on ExecuteStatement at its limit and the call keeps running; the
    runner then asks ListStatements for the statement's name, finds nothing, and returns
    GaveUp("... the service has no such statement") with no unconfirmed name: the rows come
    back as never sent, StatementsUnconfirmed stays 0 (no alarm, no id logged). But the
    abandoned request is still on its way and creates the statement afterwards; its INSERT
    commits rows the function reported as not written. Only the redelivery's presence check
    can save them, and only if the statement has committed by then, or has outlived its
    owner's deadline by the orphan slack (30 s) so it is cancelled; while it is still active
    inside that slack it is neither waited for nor counted, and the rows are written again.
    The decision says a statement "whose end it could not confirm" is counted and logged: a
    submit whose call is still running is exactly that."""
    clock = FakeClock()
    client = _SubmitStillOnItsWay()
    api = DataApi(
        client,  # type: ignore[arg-type]
        call_times=CallTimes(submit=0.2, control=0.2),
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0,
    )
    runner = StatementRunner(
        api,
        max_transient_retries=0,
        sleep=clock.sleep,
        clock=clock,
    )
    deadlines = Deadlines.single(Deadline.after(60.0, clock))
    try:
        # When the submit is given up while its request is still travelling
        run = runner.run(TARGET, "INSERT INTO t VALUES (:a)", [("a", "1")], deadlines)
    finally:
        # (the request then arrives and the statement is created)
        client.arrive.set()
    assert client.created.wait(5.0)
    # Then the function did not claim the statement never existed: it is counted and named
    assert isinstance(run.result, GaveUp)
    assert run.result.unconfirmed_name is not None, run.result.reason
    assert run.stats.unconfirmed == 1


def _with_repeated_top_level_key(fields: dict[str, Any]) -> str:
    # The same body with event_name sent twice at the top level (the second value wins, as in
    # JSON.parse, Python's json and loads_record's documented reading).
    body = json.dumps(fields)
    return '{"event_name": "first",' + body[1:]


def test_a_repeated_top_level_key_is_read_the_same_with_or_without_a_nested_object() -> None:
    """loads_record documents that a key repeated at the top level is read as JSON.parse reads
    it, the last value winning, and that only objects *inside* the body must not repeat keys.
    When the body also holds any nested object (a perfectly ordinary one, no repeated key in
    it), loads_record re-decodes with loads(), which refuses duplicates at every level, the
    top one included. The same record is thus written when it has no nested object and
    dead-lettered as INVALID_JSON "body has a nested object with a duplicate key" (a false
    detail) when it has one."""
    # Given the same top-level repetition, once without and once with a nested object
    flat = _with_repeated_top_level_key(payload())
    nested = _with_repeated_top_level_key(payload(partner_meta={"tier": "gold"}))
    # When each is validated
    flat_outcome = validate(SqsMessage("m-flat", flat, 1))
    nested_outcome = validate(SqsMessage("m-nested", nested, 1))
    # Then both are read the same way (the documented one: the last value wins)
    assert not isinstance(flat_outcome, Rejection)
    assert not isinstance(nested_outcome, Rejection), nested_outcome.detail
    assert exact_json.loads_record('{"a":"1","a":"2","b":{"c":"3"}}') == {
        "a": "2",
        "b": {"c": "3"},
    }


@pytest.mark.parametrize(
    ("arn", "url"),
    [
        (
            "arn:aws-iso:sqs:us-iso-east-1:123456789012:events",
            "https://sqs.us-iso-east-1.c2s.ic.gov/123456789012/events",
        ),
        (
            "arn:aws-iso-b:sqs:us-isob-east-1:123456789012:events",
            "https://sqs.us-isob-east-1.sc2s.sgov.gov/123456789012/events",
        ),
    ],
)
def test_the_source_queue_url_uses_the_partitions_own_domain(arn: str, url: str) -> None:
    """queue_url() knows two domains and sends every other partition to amazonaws.com: in the
    isolated partitions the early delete of dead-lettered records always fails (counted as
    dead_letters_not_deleted, so the window in which a killed invocation dead-letters a record
    twice is back). Low severity; the SQS client's own endpoint (or GetQueueUrl once per cold
    start) knows the right host."""
    assert queue_url(arn) == url
