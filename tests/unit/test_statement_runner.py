"""One statement to a confirmed end: the retry bookkeeping (backoff schedule, no backoff after
the last attempt, counters carried through every exit) and lost replies resolved by name."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, cast

from ingest.deadline import Deadlines
from ingest.ports import DescribeStatementReply, SubStatement
from ingest.redshift import StatementStatus
from ingest.retry_policy import SUBMIT_RETRY, Backoff
from ingest.statement_runner import GaveUp, Ran, Refused, Run, StatementRunner
from tests.unit.fakes import FakeClock, FakeDataApi, FakeStatement, client_error
from tests.unit.test_redshift import TARGET, make_api, phases

SQL = "INSERT INTO t VALUES (:p0)"
THROTTLED = "throttled: Rate exceeded"
SERIALIZABLE = "ERROR: 1023 DETAIL: Serializable isolation violation on table"


class Highest(random.Random):
    """Full jitter drawing its largest delay every time."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def throttles(count: int) -> list[Exception]:
    return [client_error("ThrottlingException", "Rate exceeded") for _ in range(count)]


@dataclass
class Harness:
    fake: FakeDataApi = field(default_factory=FakeDataApi)
    clock: FakeClock = field(default_factory=FakeClock)
    slept: list[float] = field(default_factory=list)  # the runner's backoffs only

    def runner(
        self,
        retries: int = 2,
        base: float = SUBMIT_RETRY.first_seconds,
        cap: float = SUBMIT_RETRY.cap_seconds,
        rng: random.Random | None = None,
    ) -> StatementRunner:
        def sleep(seconds: float) -> None:
            self.slept.append(seconds)
            self.clock.sleep(seconds)

        return StatementRunner(
            make_api(self.fake, self.clock),
            max_transient_retries=retries,
            backoff=Backoff(first_seconds=base, cap_seconds=cap),
            rng=rng,
            sleep=sleep,
            clock=self.clock,
        )

    def run(self, runner: StatementRunner, deadlines: Deadlines | None = None) -> Run:
        return runner.run(TARGET, SQL, [("p0", "v")], deadlines or phases(self.clock, 60))


def gave_up(run: Run) -> GaveUp:
    assert isinstance(run.result, GaveUp), run.result
    return run.result


def ran(run: Run) -> Ran:
    assert isinstance(run.result, Ran), run.result
    return run.result


# ---- backoff -----------------------------------------------------------------------------------


def test_no_backoff_after_the_last_attempt_and_nothing_to_look_up() -> None:
    world = Harness(FakeDataApi(submit_errors={"c1": throttles(9)}))
    run = world.run(world.runner(retries=2))
    assert gave_up(run) == GaveUp(THROTTLED)
    assert world.fake.calls.count("ExecuteStatement") == 3
    assert len(world.slept) == 2  # between attempts only
    assert run.stats.throttles == 3
    assert "ListStatements" not in world.fake.calls  # no submit could have reached the service


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    world = Harness(FakeDataApi(submit_errors={"c1": throttles(9)}))
    world.run(world.runner(retries=4, base=0.5, cap=1.5, rng=Highest()))
    assert world.slept == [0.5, 1.0, 1.5, 1.5]


def test_full_jitter_may_retry_at_once() -> None:
    world = Harness(FakeDataApi(submit_errors={"c1": throttles(9)}))
    world.run(world.runner(retries=3, base=0.5, rng=Lowest()))
    assert world.slept == [0.0, 0.0, 0.0]


def test_default_jitter_stays_within_the_schedule() -> None:
    world = Harness(FakeDataApi(submit_errors={"c1": throttles(2)}))
    run = world.run(world.runner(retries=2, base=0.5))
    assert ran(run).outcome.status is StatementStatus.FINISHED
    assert len(world.slept) == 2
    assert 0 <= world.slept[0] <= 0.5
    assert 0 <= world.slept[1] <= 1.0


def test_a_backoff_that_would_pass_the_work_deadline_is_not_taken() -> None:
    # Given 30 s of work time and backoffs of 15 s, then 30 s
    world = Harness(FakeDataApi(submit_errors={"c1": throttles(9)}))
    run = world.run(
        world.runner(retries=5, base=15, cap=100, rng=Highest()), phases(world.clock, 30)
    )
    # Then the second backoff is not slept: the rows come back saying why
    assert world.slept == [15]
    assert gave_up(run) == GaveUp(f"{THROTTLED} (deadline reached while backing off)")
    assert run.stats.throttles == 2


# ---- counters and reasons through every exit ---------------------------------------------------


def test_size_refusal_after_a_throttle_keeps_the_count_and_the_services_words() -> None:
    too_big = client_error("ValidationException", "Cannot process query string larger than 100kB")
    world = Harness(FakeDataApi(submit_errors={"c1": [*throttles(1), too_big]}))
    run = world.run(world.runner())
    assert run.result == Refused("Cannot process query string larger than 100kB")
    assert run.stats.throttles == 1


def test_misconfigured_target_gives_up_at_once_keeping_the_quota_count() -> None:
    quota = client_error("ActiveStatementsExceededException", "quota")
    denied = client_error("AccessDeniedException", "not allowed")
    world = Harness(FakeDataApi(submit_errors={"c1": [quota, denied, *throttles(5)]}))
    run = world.run(world.runner(retries=5))
    assert gave_up(run) == GaveUp("target misconfigured: AccessDeniedException: not allowed")
    assert world.fake.calls.count("ExecuteStatement") == 2
    assert run.stats.quota_rejections == 1


def test_nothing_is_submitted_once_no_call_can_end_before_the_work_deadline() -> None:
    world = Harness()
    run = world.run(world.runner(), phases(world.clock, 3))  # a call may take 4 s
    assert gave_up(run) == GaveUp("deadline reached before submit")
    assert world.fake.calls == []


def test_the_duration_counts_the_time_the_submit_waited() -> None:
    # With WaitTimeSeconds the statement runs inside ExecuteStatement: 1.5 s here
    world = Harness()
    world.fake.on_execute = lambda _: world.clock.sleep(1.5)
    run = world.run(world.runner())
    assert ran(run).outcome.duration_ms == 1500.0
    assert run.stats.durations_ms == (1500.0,)
    assert world.fake.calls == ["ExecuteStatement"]  # its status came with the reply


def test_a_statement_the_ambiguous_error_names_is_awaited_not_submitted_again() -> None:
    world = Harness()

    def fail_naming(statement: FakeStatement) -> None:
        world.fake.on_execute = None
        error = client_error("ExecuteStatementException", "environmental error")
        cast(Any, error.response)["StatementId"] = statement.id  # as botocore parses it
        raise error

    world.fake.on_execute = fail_naming
    run = world.run(world.runner())
    assert ran(run).outcome.statement_id == world.fake.statements[0].id
    assert world.fake.calls == ["ExecuteStatement", "DescribeStatement"]
    assert world.clock() == 1000.0  # described at once, no poll pause first


def test_after_a_transient_failure_the_rows_name_the_failed_statement_not_a_lookup() -> None:
    # Given the first statement fails transiently and every later submit is throttled
    world = Harness(FakeDataApi(fail_all_error=SERIALIZABLE))

    def then_throttle(_: FakeStatement) -> None:
        world.fake.submit_errors = {"c1": throttles(9)}

    world.fake.on_execute = then_throttle
    run = world.run(world.runner(retries=2))
    [failed] = world.fake.inserts()
    assert gave_up(run) == GaveUp(THROTTLED, failed.id)
    assert "ListStatements" not in world.fake.calls  # the failed statement committed nothing
    assert (run.stats.submitted, run.stats.throttles) == (1, 2)


def test_transient_failures_past_the_retries_name_the_last_statement() -> None:
    world = Harness(FakeDataApi(fail_all_error=SERIALIZABLE))
    run = world.run(world.runner(retries=1))
    first, last = world.fake.inserts()
    assert gave_up(run) == GaveUp(f"transient: {SERIALIZABLE}", last.id)
    assert first.name != last.name  # a new statement, under a new name
    assert run.stats.submitted == 2


# ---- lost replies, resolved by the statement's name --------------------------------------------


def lost_then(errors: list[Exception], **fake: object) -> Harness:
    """The first submit creates its statement and loses the reply; the next ones fail."""
    return Harness(FakeDataApi(lost_replies=1, submit_errors={"c1": errors}, **fake))  # type: ignore[arg-type]


def test_lost_reply_found_by_name_counts_as_ran_with_the_retries_counted() -> None:
    world = lost_then(throttles(9))
    run = world.run(world.runner(retries=2))
    assert ran(run).outcome.status is StatementStatus.FINISHED
    assert "ListStatements" in world.fake.calls
    assert (run.stats.submitted, run.stats.throttles) == (1, 2)


def test_misconfigured_after_a_lost_reply_still_looks_the_statement_up() -> None:
    world = lost_then([client_error("AccessDeniedException", "not allowed")])
    run = world.run(world.runner(retries=3))
    assert ran(run).outcome.statement_id == world.fake.statements[0].id
    assert world.fake.calls.count("ExecuteStatement") == 2


def test_lost_reply_found_failed_transiently_names_it() -> None:
    world = lost_then(throttles(9), fail_all_error=SERIALIZABLE)
    run = world.run(world.runner(retries=2))
    [statement] = world.fake.inserts()
    assert gave_up(run) == GaveUp(f"transient: {SERIALIZABLE}", statement.id)
    assert (run.stats.submitted, run.stats.throttles) == (1, 2)


def test_ambiguous_submits_the_service_never_saw_say_so() -> None:
    internal = [client_error("InternalServerException", "boom") for _ in range(2)]
    world = Harness(FakeDataApi(submit_errors={"c1": [*throttles(1), *internal]}))
    run = world.run(world.runner(retries=2))
    # Not listed is not proof: a given-up submit may still arrive. Unconfirmed, by its name.
    result = gave_up(run)
    assert result.reason == (
        "transient: InternalServerException: boom; the service lists no such statement (yet)"
    )
    assert result.unconfirmed_name is not None
    assert result.unconfirmed_name.startswith("sqs-redshift-ingest/primary/")
    assert run.stats.throttles == 1
    assert run.stats.unconfirmed == 1


def test_misconfigured_after_a_submit_the_service_never_saw_says_both() -> None:
    internal = client_error("InternalServerException", "boom")
    denied = client_error("AccessDeniedException", "not allowed")
    world = Harness(FakeDataApi(submit_errors={"c1": [internal, denied]}))
    run = world.run(world.runner(retries=3))
    reason = "target misconfigured: AccessDeniedException: not allowed"
    assert gave_up(run).reason == f"{reason}; the service lists no such statement (yet)"


def test_connection_failures_past_the_retries_say_transient() -> None:
    unavailable = [client_error("ServiceUnavailable", "try later") for _ in range(3)]
    world = Harness(FakeDataApi(submit_errors={"c1": unavailable}))
    run = world.run(world.runner(retries=2))
    assert gave_up(run) == GaveUp("transient: ServiceUnavailable: try later")


def test_lost_reply_that_cannot_be_looked_up_is_unconfirmed_by_name() -> None:
    world = lost_then(throttles(9))
    world.fake.list_errors = [client_error("InternalServerException") for _ in range(9)]
    run = world.run(world.runner(retries=2))
    name = world.fake.statements[0].name
    assert gave_up(run) == GaveUp(f"{THROTTLED}; submit unconfirmed", None, name)
    assert (run.stats.unconfirmed, run.stats.throttles) == (1, 2)


def test_lost_reply_found_running_and_never_confirmed_ended_keeps_every_count() -> None:
    world = lost_then(throttles(9), hang_next=1)
    world.fake.cancel_errors = [client_error("ThrottlingException") for _ in range(500)]
    run = world.run(world.runner(retries=2))
    [statement] = world.fake.inserts()
    result = gave_up(run)
    assert (result.statement_id, result.unconfirmed_name) == (statement.id, statement.id)
    assert (run.stats.submitted, run.stats.unconfirmed, run.stats.throttles) == (1, 1, 2)


def test_lost_reply_at_the_work_deadline_is_still_looked_up_in_the_cleanup_time() -> None:
    # Given the reply is lost and the backoff leaves too little work time for another submit
    world = lost_then([])
    run = world.run(
        world.runner(retries=3, base=27, cap=100, rng=Highest()), phases(world.clock, 30)
    )
    # Then the statement is found by name and its rows count as written
    assert world.slept == [27]
    assert ran(run).outcome.status is StatementStatus.FINISHED
    assert world.fake.calls.count("ExecuteStatement") == 1
    assert "ListStatements" in world.fake.calls


# ---- several SQLs, one transaction (BatchExecuteStatement) -------------------------------------

BATCH = ("INSERT INTO t VALUES (:a)", "INSERT INTO t VALUES (:b)", "INSERT INTO t VALUES (:c)")
SHARED = [("a", "1"), ("b", "2"), ("c", "3")]


def run_batch(world: Harness, runner: StatementRunner, deadlines: Deadlines | None = None) -> Run:
    return runner.run(TARGET, BATCH, SHARED, deadlines or phases(world.clock, 60))


def spy_on_submits(fake: FakeDataApi) -> list[dict[str, Any]]:
    """Every BatchExecuteStatement request, as sent."""
    requests: list[dict[str, Any]] = []
    original = fake.batch_execute_statement

    def spy(**request: Any) -> Any:
        requests.append(dict(request))
        return original(**request)

    fake.batch_execute_statement = spy  # type: ignore[method-assign]
    return requests


def test_a_batch_is_one_statement_with_its_sqls_and_shared_parameters() -> None:
    world = Harness()
    requests = spy_on_submits(world.fake)
    run = run_batch(world, world.runner())
    assert ran(run).outcome.status is StatementStatus.FINISHED
    assert world.fake.calls == ["BatchExecuteStatement"]  # its status came with the reply
    [request] = requests
    assert request["Sqls"] == list(BATCH)
    assert request["Parameters"] == [{"name": n, "value": v} for n, v in SHARED]
    assert request["StatementName"].startswith("sqs-redshift-ingest/primary/")
    assert run.stats.submitted == 1  # one statement, one commit


def test_a_batch_failing_on_a_value_is_settled_with_its_failed_part() -> None:
    # Given the second SQL carries a value the table refuses
    world = Harness(FakeDataApi(poison={"2"}, batch_error="ERROR: batch failed"))
    run = run_batch(world, world.runner())
    # Then the batch ran once (a value error is not retried) and names its second SQL
    outcome = ran(run).outcome
    assert (outcome.status, outcome.failed_part) == (StatementStatus.FAILED, 1)
    assert outcome.error == world.fake.poison_error
    assert world.fake.calls == ["BatchExecuteStatement", "DescribeStatement"]
    assert world.fake.finished_values("c1") == []  # nothing of it committed


def test_a_batch_the_service_says_nothing_about_has_no_failed_part() -> None:
    world = Harness(FakeDataApi(poison={"2"}, describe_sub_statements=False))
    outcome = ran(run_batch(world, world.runner())).outcome
    assert (outcome.status, outcome.failed_part) == (StatementStatus.FAILED, None)
    assert outcome.error == world.fake.poison_error


def test_a_failed_part_the_batch_does_not_have_is_not_said() -> None:
    world = Harness(FakeDataApi(poison={"2"}))

    def out_of_range(*, Id: str) -> DescribeStatementReply:
        error = world.fake.poison_error
        subs: list[SubStatement] = [{"Id": f"{Id}:7", "Status": "FAILED", "Error": error}]
        return {"Status": "FAILED", "Error": error, "SubStatements": subs}

    world.fake.describe_statement = out_of_range  # type: ignore[method-assign]
    outcome = ran(run_batch(world, world.runner())).outcome
    assert (outcome.status, outcome.failed_part) == (StatementStatus.FAILED, None)


def test_a_batch_failing_transiently_runs_again_as_a_new_statement() -> None:
    world = Harness(FakeDataApi(fail_all_error=SERIALIZABLE))
    requests = spy_on_submits(world.fake)
    run = run_batch(world, world.runner(retries=1))
    first, last = world.fake.inserts()
    assert gave_up(run) == GaveUp(f"transient: {SERIALIZABLE}", last.id)
    # Nothing of a FAILED batch committed: a new name and token, not a lookup
    assert requests[0]["ClientToken"] != requests[1]["ClientToken"]
    assert first.name != last.name
    assert "ListStatements" not in world.fake.calls
    assert run.stats.submitted == 2


def test_retries_of_an_unanswered_batch_keep_its_token_and_name() -> None:
    # Given the first submit creates the batch and its reply is lost
    world = Harness(FakeDataApi(lost_replies=1))
    requests = spy_on_submits(world.fake)
    run = run_batch(world, world.runner(retries=2))
    # Then the retry carries the same token and name, and the service returns the same batch
    assert [r["ClientToken"] for r in requests] == [requests[0]["ClientToken"]] * 2
    assert [r["StatementName"] for r in requests] == [requests[0]["StatementName"]] * 2
    [batch] = world.fake.statements
    assert ran(run).outcome.statement_id == batch.id
    assert run.stats.submitted == 1
    assert world.fake.finished_values("c1") == ["1", "2", "3"]  # written once


def test_a_lost_batch_reply_is_resolved_by_name_with_its_failed_part() -> None:
    # Given the batch is created and its reply lost, every later submit throttled, and its
    # third SQL fails on a value
    world = Harness(FakeDataApi(lost_replies=1, submit_errors={"c1": throttles(9)}, poison={"3"}))
    run = run_batch(world, world.runner(retries=2))
    # Then it is found by its name and settled as it ended
    outcome = ran(run).outcome
    [batch] = world.fake.statements
    assert "ListStatements" in world.fake.calls
    assert (outcome.statement_id, outcome.status, outcome.failed_part) == (
        batch.id, StatementStatus.FAILED, 2
    )  # fmt: skip
    assert (run.stats.submitted, run.stats.throttles) == (1, 2)


def test_a_hanging_batch_is_cancelled_and_confirmed_within_the_deadlines() -> None:
    world = Harness(FakeDataApi(hang_next=1))
    deadlines = phases(world.clock, 10)
    run = run_batch(world, world.runner(), deadlines)
    outcome = ran(run).outcome
    assert (outcome.status, outcome.cancelled, outcome.failed_part) == (
        StatementStatus.ABORTED, True, None
    )  # fmt: skip
    assert world.clock() <= deadlines.cleanup.expires_at
    assert (run.stats.submitted, run.stats.cancelled) == (1, 1)
    assert world.fake.finished_values("c1") == []


def test_no_batch_is_submitted_once_no_call_can_end_before_the_work_deadline() -> None:
    world = Harness()
    run = run_batch(world, world.runner(), phases(world.clock, 3))  # a call may take 4 s
    assert gave_up(run) == GaveUp("deadline reached before submit")
    assert world.fake.calls == []


def test_an_unanswered_batch_past_its_deadline_is_an_orphan_to_cancel() -> None:
    # Given a batch left running by an invocation that gave up on it long ago
    world = Harness(FakeDataApi(hang_next=1))
    world.fake.batch_execute_statement(
        ClusterIdentifier="c1", Sqls=list(BATCH), StatementName="sqs-redshift-ingest/primary/100/x"
    )
    # Then the next invocation cancels it like any statement of the function
    api = make_api(world.fake, world.clock)
    assert api.cancel_orphans(TARGET, phases(world.clock, 60)) == []
    assert [s.status for s in world.fake.statements] == ["ABORTED"]
