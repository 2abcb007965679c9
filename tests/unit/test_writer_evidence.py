"""What the writer needs before it convicts a row, and what it does with failures that are not
the rows': a probe that binds what the rows bind, unknown texts, size refusals of any wording,
the column guard, and the SDK's own refusals (issue 17)."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.serialize import create_serializer

from ingest.column_guard import column_guard
from ingest.config import Settings
from ingest.fates import TargetOutcome
from ingest.probe import PROBE_MESSAGE_ID, ROLLBACK_SQL, probe_row, probe_sqls
from ingest.records import Row, SqsMessage
from ingest.redshift import AmbiguousSubmit, RequestInvalid, map_client_error
from ingest.sql import InsertRenderer, Limits
from ingest.wiring import Timing, deadlines_for, transaction_limits
from ingest.writer import TargetWriter
from local.appsflyer import appsflyer_layout, validate
from tests.support import payload
from tests.unit.fakes import GUARD_SQL_START, FakeClock, FakeDataApi, FakeStatement, client_error
from tests.unit.test_writer import SETTINGS, ids, poisoned_fake, rows, write, writer

VALUE_ERROR = "ERROR: Invalid digit, Value 'x', Pos 0, Type: Integer"


def test_a_failure_of_every_parameterised_statement_convicts_no_row() -> None:
    # Given a target that fails every statement binding parameters with a value error's words
    # (a SELECT that binds nothing, the old control statement, would pass)
    fake = FakeDataApi(fail_parameterised_error=VALUE_ERROR)
    # When a batch, and a single record (a lone redrive), are written
    batch = write(fake, rows(16))
    lone = write(FakeDataApi(fail_parameterised_error=VALUE_ERROR), rows(1))
    # Then the probe, which binds parameters through the same wrappers, fails too: no row is
    # dead-lettered, every row comes back
    for result, count in ((batch, 16), (lone, 1)):
        assert not result.rejected
        assert set(result.returned) == ids(*range(count))
    probes = [s for s in fake.statements if ROLLBACK_SQL in s.sqls]
    assert len(probes) == 1
    assert probes[0].parameters  # the probe binds values


def test_the_probe_exercises_every_wrapper_and_default_and_leaves_nothing() -> None:
    layout = appsflyer_layout()
    renderer = InsertRenderer(layout, Limits(100_000, 32_767, 39, guarded=True))
    probe = probe_sqls(renderer)
    assert probe is not None
    (insert, rollback), parameters = probe
    assert rollback == ROLLBACK_SQL
    assert insert.startswith("INSERT INTO")
    assert "CAST(:" in insert
    assert "JSON_PARSE(:" in insert
    assert ("DEFAULT" in insert) == any(layout.has_default)
    row = probe_row(layout)
    assert row.values[layout.message_id_index] == PROBE_MESSAGE_ID
    assert all(name.startswith("p") for name, _ in parameters)


def test_a_lone_bad_row_is_convicted_only_after_the_probe_passed() -> None:
    fake = poisoned_fake(3)
    result = write(fake, rows(8, {3}))
    assert set(result.rejected) == ids(3)
    assert result.written == ids(*range(8)) - ids(3)
    assert sum(ROLLBACK_SQL in s.sqls for s in fake.statements) == 1


REDSHIFT_VALUE_TOO_LONG = (
    "ERROR: Value too long for character type\nDETAIL: \n"
    "  -----------------------------------------------\n"
    "  error:  Value too long for character type\n  code:      8001\n"
    "  context:   Value too long for type character varying(256)\n"
    "  query:     1023\n  location:  string.cpp:219\n  process:   query0_1023 [pid=1023]\n"
)


@pytest.mark.parametrize(
    "error",
    [
        "ERROR: words no public source has",
        # Redshift's own wording, with 1023 (serializable's code) as query id and pid
        REDSHIFT_VALUE_TOO_LONG,
        "ERROR:  Invalid digit, Value '1023', Pos 0, Type: Integer \nDETAIL: \n  code: 1207\n",
    ],
)
def test_a_refused_value_in_redshift_s_or_unknown_words_is_isolated(error: str) -> None:
    # Given one value the table refuses
    fake = poisoned_fake(5)
    fake.poison_error = error
    result = write(fake, rows(12, {5}))
    # Then the batch is not stranded: the good rows land and the bad one is isolated
    assert result.written == ids(*range(12)) - ids(5)
    assert set(result.rejected) == ids(5)


def test_a_size_refusal_in_any_wording_splits_and_lowers_the_target_s_request_budget() -> None:
    # Given a service that refuses the first two requests with words nobody published
    refusals = [client_error("413", "Request Entity Too Large"), client_error("413", "")]
    fake = FakeDataApi(submit_errors={"c1": refusals})
    settings = replace(SETTINGS, statement_max_bytes=8_192)
    # When 40 rows are written
    result = write(fake, rows(40), settings=settings)
    # Then smaller requests carry every row once, and none is dead-lettered
    assert result.written == ids(*range(40))
    assert not result.rejected
    assert not result.returned


def test_the_sdk_s_own_refusal_is_configuration_never_maybe_sent() -> None:
    refused = ParamValidationError(
        report="Invalid length for parameter Parameters[0].value, value: 0, valid min length: 1"
    )
    error = map_client_error(refused)
    assert isinstance(error, RequestInvalid)
    assert not isinstance(error, AmbiguousSubmit)
    assert "Parameters[0].value" in str(error)
    assert "value: 0" not in str(error)  # the SDK's text quotes the value: never kept


def test_every_transaction_is_guarded_and_claims_its_records() -> None:
    # (An SDK too old for parameterised transactions fails the cold start: test_redshift.py.)
    limits = transaction_limits(SETTINGS)
    assert limits.guarded
    assert limits.claims
    assert limits.statements_per_transaction == 39  # the guard takes one of the 40 SQLs


def test_the_column_guard_fails_a_transaction_when_a_column_changed_type() -> None:
    # Given the layout read when event_revenue was DECIMAL(18,6)
    layout = appsflyer_layout()
    guard = column_guard(layout)
    expected = {v for n, v in guard.parameters[3:]}
    assert "event_revenue numeric(18,6)" in expected
    assert len(guard.parameters) == len(layout.columns) + 3
    # When the table is re-created with fewer places, the guard fails and nothing commits
    fake = FakeDataApi()
    changed = replace(
        fake.table,
        columns=tuple(
            replace(c, type_text="numeric(18,2)", scale=2) if c.name == "event_revenue" else c
            for c in fake.table.columns
        ),
    )
    fake.table = changed
    settings = Settings(
        targets=SETTINGS.targets,
        table=SETTINGS.table,
        dead_letter_queue_url=SETTINGS.dead_letter_queue_url,
    )
    renderer = InsertRenderer(layout, Limits(100_000, 32_767, 39, guarded=True))

    class Changed:
        def changed(self, target: object, deadlines: object) -> bool:
            return True

    clock = FakeClock()
    outcome = writer(fake, clock, settings).write(
        SETTINGS.targets[0],
        renderer,
        rows(5),
        deadlines_for(settings, 60, Timing(clock, clock.sleep)),
        Changed(),
    )
    assert outcome.table_changed
    assert not outcome.written
    assert fake.written_rows("c1") == []


def test_the_probe_is_rendered_whatever_the_function_s_own_statement_budget() -> None:
    # A row of known-good values for every column exceeds a small STATEMENT_MAX_BYTES (the
    # chaos run's 3,000 bytes): the probe is still sent, within the service's 100 KB.
    renderer = InsertRenderer(appsflyer_layout(), Limits(3_000, 200, 1, guarded=True))
    assert not renderer.render([probe_row(renderer.layout)]).statements
    probe = probe_sqls(renderer)
    assert probe is not None
    assert len(probe[0][0].encode()) > 3_000


def test_a_column_re_created_after_the_write_s_one_catalog_check_is_never_written_unguarded() -> (
    None
):
    # Found by the session's hostile review: the first failure (a bad value) spends the
    # write's one catalog check; a column is re-created right after it; the next guarded
    # transaction's guard fails. It must be read as a changed table, never as a broken guard.
    fake = poisoned_fake(0)
    original = fake.table
    recreated = replace(
        original,
        columns=tuple(
            replace(c, type_text="numeric(18,2)", scale=2) if c.name == "event_revenue" else c
            for c in original.columns
        ),
    )

    class Watch:
        def changed(self, target: object, deadlines: object) -> bool:
            answer = fake.table is not original
            fake.table = recreated
            return answer

    clock = FakeClock()
    w = writer(fake, clock, SETTINGS)
    renderer = InsertRenderer(appsflyer_layout(), Limits(3_700, 32_767, 2, guarded=True))
    outcome = w.write(
        SETTINGS.targets[0],
        renderer,
        rows(30, {0}),
        deadlines_for(SETTINGS, 60, Timing(clock, clock.sleep)),
        Watch(),
    )
    assert outcome.table_changed
    assert w.guarded(SETTINGS.targets[0].name)


def test_the_request_budget_holds_against_botocore_s_own_serialisation() -> None:
    # Found by the session's hostile review: botocore's separators, the envelope, and control
    # characters in non-ASCII text. The budget must bound the body botocore really sends.
    client = boto3.client("redshift-data", region_name="us-east-1")
    layout = appsflyer_layout()
    control = []
    for i in range(40):
        body = payload(custom_data="é" + "\x01" * 800 + str(i), city='"quoted" \\ city')
        row = validate(SqsMessage(f"m-{i:03d}", json.dumps(body), 1))
        assert isinstance(row, Row)
        control.append(row)
    cases = [rows(40), control]
    for batch in cases:
        budget = 60_000
        limits = Limits(100_000, 32_767, 39, max_request_bytes=budget, guarded=True)
        for transaction in InsertRenderer(layout, limits).render(batch).transactions:
            request = create_serializer(client.meta.service_model.protocol).serialize_to_request(
                {
                    "ClusterIdentifier": "c1",
                    "Database": "dev",
                    "DbUser": "ingest",
                    "ClientToken": "0" * 36,
                    "StatementName": "sqs-redshift-ingest/primary/1796665734/" + "0" * 12,
                    "Sqls": list(transaction.sqls),
                    "Parameters": [{"name": n, "value": v} for n, v in transaction.parameters],
                },
                client.meta.service_model.operation_model("BatchExecuteStatement"),
            )
            assert len(request["body"]) <= budget


def _guard_failing_fake(*, alone: str | None) -> FakeDataApi:
    """A target whose guard fails inside every transaction (the table unchanged), and, when
    `alone` is set, also when asked alone."""

    class GuardFails(FakeDataApi):
        def _part_error(self, target: str, part: FakeStatement) -> str | None:
            if part.sql.startswith(GUARD_SQL_START) and part.id.endswith(":1"):
                return "ERROR: division by zero"
            return super()._part_error(target, part)

    return GuardFails(guard_alone_error=alone)


def _guarded_write(fake: FakeDataApi, count: int) -> tuple[TargetWriter, TargetOutcome]:
    clock = FakeClock()
    w = writer(fake, clock, SETTINGS)
    renderer = InsertRenderer(appsflyer_layout(), Limits(100_000, 32_767, 39, guarded=True))
    outcome = w.write(
        SETTINGS.targets[0],
        renderer,
        rows(count),
        deadlines_for(SETTINGS, 60, Timing(clock, clock.sleep)),
        _Unchanged(),
    )
    return w, outcome


class _Unchanged:
    def changed(self, target: object, deadlines: object) -> bool:
        return False


def test_a_guard_that_fails_only_in_its_transaction_is_never_dropped() -> None:
    # Given a guard failing in the transaction but passing when asked alone, twice
    fake = _guard_failing_fake(alone=None)
    w, outcome = _guarded_write(fake, 5)
    # Then nothing is written unguarded: the rows come back, and the guard stays on
    assert not outcome.written
    assert set(outcome.returned) == ids(*range(5))
    assert w.guarded(SETTINGS.targets[0].name)
    assert fake.written_rows("c1") == []


def test_a_guard_the_target_cannot_run_is_dropped_and_the_rows_land_once() -> None:
    # Given a guard that fails in its transaction and alone, on a table that has not changed
    fake = _guard_failing_fake(alone="ERROR: function format_type does not exist")
    w, outcome = _guarded_write(fake, 5)
    # Then the target writes without it (logged), each row once
    assert outcome.written == ids(*range(5))
    assert not w.guarded(SETTINGS.targets[0].name)
    assert sorted(str(r["sqs_message_id"]) for r in fake.written_rows("c1")) == sorted(
        ids(*range(5))
    )
