"""What the writer records about each row it could not write: the reason and the statement id
that end up in its failure line, the bisection budget, rows set aside, and presence failures."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ingest.fates import TargetOutcome
from ingest.writer import BISECTION_BUDGET
from tests.unit.fakes import FakeDataApi, client_error
from tests.unit.test_writer import SETTINGS, ids, poisoned_fake, rows, write

# About 5 rows a statement, each its own transaction: the bookkeeping per statement is what
# these tests read (transactions of several INSERTs are tested in test_writer.py).
SMALL_STATEMENTS = replace(SETTINGS, statement_max_bytes=3_700, statements_per_transaction=1)


def failure_lines(result: TargetOutcome) -> dict[str, tuple[str, str | None]]:
    return {m: (f.reason, f.statement_id) for m, f in result.returned.items()}


def rows_of(fake: FakeDataApi, index: int) -> set[str]:
    statement = fake.inserts()[index]
    return {v for v in statement.parameters.values() if v.startswith("m-")}


def assert_some_rows_unsent(fake: FakeDataApi) -> None:
    sent = set().union(*(rows_of(fake, i) for i in range(len(fake.inserts()))))
    assert 0 < len(sent) < 40  # the rows of later statements were never sent


def test_failed_statement_names_its_id_and_the_database_error_for_its_rows_only() -> None:
    error = 'relation "public.appsflyer_events" does not exist'
    fake = FakeDataApi(fail_all_error=error)
    result = write(fake, rows(40), settings=SMALL_STATEMENTS)
    [failed] = fake.inserts()
    sent = rows_of(fake, 0)
    assert_some_rows_unsent(fake)
    assert failure_lines(result) == {
        m: (f"configuration: {error}", failed.id if m in sent else None) for m in ids(*range(40))
    }


def test_failed_statement_without_an_error_text_still_says_what_happened() -> None:
    fake = FakeDataApi(fail_all_error="")
    result = write(fake, rows(2))
    # An empty text is unknown: bisected to single rows, then the probe fails too, so both
    # rows come back saying so, and none is convicted.
    assert not result.rejected
    assert set(result.returned) == ids(0, 1)
    for failure in result.returned.values():
        assert failure.reason == (
            "statement-level failure, not the rows': statement failed without an error message"
        )


def test_aborted_statement_names_its_id_and_unsent_rows_none() -> None:
    fake = FakeDataApi(hang_next=1)
    result = write(fake, rows(40), seconds=40, settings=SMALL_STATEMENTS)
    [aborted] = fake.inserts()
    sent = rows_of(fake, 0)
    assert_some_rows_unsent(fake)
    assert failure_lines(result) == {
        m: ("statement ABORTED", aborted.id if m in sent else None) for m in ids(*range(40))
    }
    assert result.stats.cancelled == 1


def test_rows_past_the_deadline_say_so_and_name_no_statement() -> None:
    result = write(FakeDataApi(), rows(3), seconds=0)
    assert failure_lines(result) == dict.fromkeys(
        ids(0, 1, 2), ("deadline reached before submit", None)
    )


def test_transient_failures_past_the_retries_name_the_last_statement_tried() -> None:
    error = "ERROR: 1023 DETAIL: Serializable isolation violation on table"
    fake = FakeDataApi(fail_all_error=error)
    settings = replace(SMALL_STATEMENTS, max_transient_retries=1)
    result = write(fake, rows(40), settings=settings)
    first, retried = fake.inserts()  # the same rows, twice; nothing after them was sent
    assert rows_of(fake, 0) == rows_of(fake, 1)
    sent = rows_of(fake, 0)
    assert_some_rows_unsent(fake)
    assert failure_lines(result) == {
        m: (f"transient: {error}", retried.id if m in sent else None) for m in ids(*range(40))
    }
    assert first.id != retried.id


def test_throttled_past_the_retries_every_row_says_throttled() -> None:
    throttled = [client_error("ThrottlingException", "Rate exceeded") for _ in range(9)]
    fake = FakeDataApi(submit_errors={"c1": throttled})
    settings = replace(SMALL_STATEMENTS, max_transient_retries=1)
    result = write(fake, rows(40), settings=settings)
    assert len(fake.inserts()) == 0  # nothing ever ran: no statement to name
    assert failure_lines(result) == dict.fromkeys(
        ids(*range(40)), ("throttled: Rate exceeded", None)
    )
    assert result.stats.throttles == 2


def test_unconfirmed_statement_names_itself_in_its_rows_failure_lines() -> None:
    fake = FakeDataApi(hang_next=1)
    fake.cancel_errors = [client_error("ThrottlingException") for _ in range(500)]
    result = write(fake, rows(3), seconds=45)
    [hung] = fake.inserts()
    reason = f"statement {hung.id} may still run: not confirmed ended"
    assert failure_lines(result) == dict.fromkeys(ids(0, 1, 2), (reason, hung.id))
    assert (result.stats.submitted, result.stats.unconfirmed) == (1, 1)


def test_statement_level_failure_lines_name_each_rows_own_single_statement() -> None:
    error = "value too long for type character varying(255)"
    fake = FakeDataApi(fail_all_error=error)
    result = write(fake, rows(16))
    reason = f"statement-level failure, not the rows': {error}"
    singles = {
        next(iter(rows_of(fake, i))): s.id
        for i, s in enumerate(fake.inserts())
        if len(rows_of(fake, i)) == 1
    }
    # One single row failed, then the control statement failed too: nothing more was spent
    assert len(singles) == 1
    assert failure_lines(result) == {m: (reason, singles.get(m)) for m in ids(*range(16))}


TOO_LARGE = "Cannot process query string larger than 100kB"


class _InsertsTooLarge(FakeDataApi):
    """Refuses every INSERT for its size; the control statement (a SELECT of no values) runs."""

    def execute_statement(self, **request: Any) -> Any:
        if request["Sql"].startswith("INSERT"):
            raise client_error("ValidationException", TOO_LARGE)
        return super().execute_statement(**request)


def test_rows_refused_as_too_large_down_to_one_row_are_rejected_with_the_services_words() -> None:
    result = write(_InsertsTooLarge(), rows(2))
    words = "Cannot process query string larger than 100kB"
    assert result.rejected == dict.fromkeys(ids(0, 1), words)
    assert not result.returned


def test_bisection_stops_exactly_at_its_budget_and_the_rest_comes_back_with_the_reason() -> None:
    # Given every other row is refused: far more splits than the budget allows
    guilty = set(range(1, 600, 2))
    fake = poisoned_fake(*guilty)
    result = write(fake, rows(600, guilty), settings=replace(SETTINGS, statement_max_bytes=200_000))
    assert result.counts.bisection_steps == BISECTION_BUDGET
    spent = {m: f for m, f in result.returned.items() if f.reason.startswith("bisection budget")}
    assert spent
    failed = {s.id: s for s in fake.inserts() if s.status == "FAILED"}
    for message_id, failure in spent.items():
        assert failure.reason == f"bisection budget spent: {fake.poison_error}"
        assert failure.statement_id in failed
        assert message_id in failed[failure.statement_id].parameters.values()
    # Nothing is lost: every row is written, rejected or comes back
    accounted = result.written | set(result.rejected) | set(result.returned)
    assert accounted == ids(*range(600))


def test_rows_too_big_for_any_statement_are_reported_as_oversized() -> None:
    batch = rows(3)
    result = write(FakeDataApi(), batch, settings=replace(SETTINGS, statement_max_bytes=2_000))
    assert result.oversized == ids(0, 1, 2)
    assert not result.written


def test_target_that_cannot_list_its_statements_gets_only_first_deliveries() -> None:
    # Given two redelivered rows and two first deliveries, and a target that cannot list
    fake = FakeDataApi()
    # Refused every time (ListStatements is retried within the deadline)
    fake.list_errors = [client_error("AccessDeniedException", "boom", "ListStatements")] * 20
    batch = rows(2, receive_count=2) + rows(4)[2:]
    result = write(fake, batch)
    # Then the redelivered rows come back saying why; the first deliveries are written
    reason = "cannot list earlier statements: AccessDeniedException: boom"
    assert failure_lines(result) == dict.fromkeys(ids(0, 1), (reason, None))
    assert result.written == ids(2, 3)
    assert result.stats.submitted == 1


def test_what_asking_a_target_cost_is_counted_even_when_it_could_not_answer() -> None:
    # Given the SELECT that asks what the target holds is throttled past the retries
    throttled = [client_error("ThrottlingException", "Rate exceeded") for _ in range(2)]
    fake = FakeDataApi(submit_errors={"c1": throttled})
    settings = replace(SETTINGS, max_transient_retries=1)
    result = write(fake, rows(2, receive_count=2), settings=settings)
    # Then the rows come back saying so, and both throttles are counted for the target
    reason = "cannot ask which records the target holds: throttled: Rate exceeded"
    assert failure_lines(result) == dict.fromkeys(ids(0, 1), (reason, None))
    assert result.stats.throttles == 2
