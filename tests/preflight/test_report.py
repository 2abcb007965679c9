"""preflight's report and its judgement of values read back, without a Data API."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from ingest.config import Roles
from ingest.layout import build_layout
from ingest.records import Row
from ingest.schema import Column, ColumnKind, TableSchema
from preflight.cli import EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_OK, EXIT_USAGE, exit_code
from preflight.context import CheckResult
from preflight.readback import differences, same
from preflight.refusals import DUPLICATE_KEY, REFUSALS, accepted
from preflight.report import HEADINGS, note_lines, report, summary_line, table_lines
from preflight.rows import EVERY_KIND_BODY, decoded
from preflight.session import SessionResult

TABLE = "public.sqs_redshift_ingest_preflight_0123456789ab"
RESULTS = (
    CheckResult("catalog read", "FINISHED", "20 columns as declared, 19 written", ok=True),
    CheckResult(
        "refusal: SMALLINT overflow",
        "FAILED at SQL 2/2: ERROR: Overflow (Short valid range -32768 to 32767)",
        "unknown: no rule knows this text",
        ok=False,
    ),
    CheckResult(
        "probe", "FAILED at SQL 2/2: ERROR: division by zero", "passed", ok=True, note="a note"
    ),
)


def session(**changes: object) -> SessionResult:
    result = SessionResult(
        table=TABLE,
        results=RESULTS,
        error=None,
        interrupted=False,
        drop_attempted=True,
        drop_error=None,
        statements=12,
        seconds=3.2,
    )
    return replace(result, **changes)  # type: ignore[arg-type]


def test_the_table_aligns_every_column_under_its_heading() -> None:
    lines = table_lines(RESULTS)
    heading, rule, *rows = lines
    assert heading.split() == " ".join(HEADINGS).split()
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    assert len(starts) == len(HEADINGS)
    for line in [heading, *rows]:
        for start in starts[1:]:
            assert line[start - 2 : start] == "  "  # two spaces before every column
            assert line[start] != " "  # and every cell starts where its rule does
    assert [row.rsplit(maxsplit=1)[-1] for row in rows] == ["OK", "MISMATCH", "OK"]
    assert all(line == line.rstrip() for line in lines)


def test_the_summary_counts_mismatches_and_what_did_not_run() -> None:
    assert summary_line(session(), 3) == (
        "3 checks: 2 OK, 1 MISMATCH - the function's contract does not hold on this target "
        "(docs/deploy.md)"
    )
    passing = session(results=(RESULTS[0], RESULTS[2]))
    assert summary_line(passing, 2) == (
        "2 checks: 2 OK, 0 MISMATCH - the function's contract holds on this target"
    )
    assert summary_line(passing, 5) == "2 checks: 2 OK, 0 MISMATCH; 3 not run"


def test_notes_name_their_check() -> None:
    assert note_lines(RESULTS) == ["Notes:", "  probe: a note"]
    assert note_lines(RESULTS[:2]) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, f"Scratch table {TABLE} dropped."),
        ({"drop_attempted": False}, f"Scratch table {TABLE} never created"),
        (
            {"drop_error": "refused"},
            f"Run this in the target database: DROP TABLE IF EXISTS {TABLE};",
        ),
        ({"interrupted": True}, "Interrupted: the statements in flight were cancelled."),
        ({"error": "could not create"}, "Stopped by an error: could not create"),
    ],
)
def test_the_report_says_how_the_run_ended(changes: dict[str, object], expected: str) -> None:
    out = io.StringIO()
    report(session(**changes), 3, out)
    assert expected in out.getvalue()
    assert "Ran 12 statements in 3 s." in out.getvalue()


@pytest.mark.parametrize(
    ("changes", "planned", "code"),
    [
        ({"results": (RESULTS[0],)}, 1, EXIT_OK),
        ({}, 3, EXIT_MISMATCH),
        ({"interrupted": True}, 3, EXIT_INTERRUPTED),
        ({"results": (RESULTS[0],), "error": "could not create"}, 1, EXIT_USAGE),
        ({"results": (RESULTS[0],), "drop_error": "refused"}, 1, EXIT_USAGE),
        ({"results": (RESULTS[0],)}, 2, EXIT_USAGE),  # a check did not run
        ({"drop_error": "refused"}, 3, EXIT_MISMATCH),  # a mismatch is the news
    ],
)
def test_the_exit_code(changes: dict[str, object], planned: int, code: int) -> None:
    assert exit_code(session(**changes), planned) == code


# ---- values read back ----------------------------------------------------------------------


def column(kind: ColumnKind, size: int = 0) -> Column:
    return Column("c", kind, size=size, precision=18 if kind is ColumnKind.DECIMAL else 0, scale=6)


@pytest.mark.parametrize(
    ("kind", "sent", "got"),
    [
        (ColumnKind.VARCHAR, "na\u00efve", "na\u00efve"),
        (ColumnKind.CHAR, "ABCD", "ABCD    "),  # blank-padded
        (ColumnKind.BIGINT, "-9223372036854775808", "-9223372036854775808"),
        (ColumnKind.DECIMAL, "-123456789012.123456", "-123456789012.123456"),
        (ColumnKind.DECIMAL, "4.5", "4.500000"),  # the column's scale
        (ColumnKind.REAL, "0.1", "0.10000000149011612"),  # as REAL rounds it
        (ColumnKind.DOUBLE, "12345.125", "12345.125"),
        (ColumnKind.BOOLEAN, True, "true"),
        (ColumnKind.BOOLEAN, False, "False"),
        (ColumnKind.DATE, "2024-02-29", "2024-02-29"),
        (ColumnKind.TIMESTAMP, "2024-02-29 23:59:59.123456", "2024-02-29 23:59:59.123456"),
        (
            ColumnKind.TIMESTAMPTZ,
            "2024-02-29 23:59:59.123456+05:30",
            "2024-02-29 18:29:59.123456+00",
        ),
        (ColumnKind.SUPER, '{"n":19.90,"a":[1,true,null]}', '{"a": [1, true, null], "n": 19.9}'),
    ],
)
def test_a_value_read_back_as_its_type_prints_it_is_the_same(
    kind: ColumnKind, sent: str | bool, got: str
) -> None:
    assert same(column(kind), sent, got)


@pytest.mark.parametrize(
    ("kind", "sent", "got"),
    [
        (ColumnKind.VARCHAR, "abc", "abc "),
        (ColumnKind.BIGINT, "9223372036854775807", "9223372036854775806"),
        # The digits a float would lose: a DECIMAL must keep them.
        (ColumnKind.DECIMAL, "-123456789012.123456", "-123456789012.12346"),
        (ColumnKind.DOUBLE, "0.1", "0.10000000149011612"),
        (ColumnKind.BOOLEAN, True, "false"),
        (ColumnKind.TIMESTAMPTZ, "2024-02-29 23:59:59+05:30", "2024-02-29 23:59:59+00"),
        (ColumnKind.SUPER, '{"n":1234567890123456789}', '{"n": 1234567890123456800}'),
        (ColumnKind.SUPER, '{"n":"1"}', '{"n": 1}'),
        (ColumnKind.INTEGER, "1", "not a number"),
        (ColumnKind.INTEGER, "1", None),
    ],
)
def test_a_different_value_is_told_apart(
    kind: ColumnKind, sent: str | bool, got: str | None
) -> None:
    assert not same(column(kind), sent, got)


def test_differences_name_rows_and_columns_never_values() -> None:
    schema = TableSchema(
        "public.t",
        (
            Column("sqs_message_id", ColumnKind.VARCHAR, size=128, not_null=True),
            Column("c_text", ColumnKind.VARCHAR, size=64),
            Column("c_integer", ColumnKind.INTEGER),
        ),
    )
    layout = build_layout(schema, Roles(overflow_column=None, default_columns=()), "t")
    sent = [
        Row("m1", 1, ("m1", "secret value", "7"), (0, 1, 2), record_id="m1"),
        Row("m2", 1, ("m2", None, "8"), (0, 2), record_id="m2"),
        Row("m3", 1, ("m3", None, "9"), (0, 2), record_id="m3"),
    ]
    got: dict[str, list[str | None]] = {
        "m1": ["m1", "another value", "7"],
        "m2": ["m2", "not compared: not sent", "80"],
    }
    problems = differences(layout, sent, got)
    assert problems == ["1 of 3 rows missing", "values differ in c_integer, c_text"]
    assert not any("value" in p and "secret" in p for p in problems)
    assert differences(layout, sent[:1], {"m1": ["m1", "secret value", "7"]}) == []


def test_the_sample_record_is_valid_json_with_its_digits() -> None:
    result = decoded("m", EVERY_KIND_BODY)
    payload = getattr(result, "payload")  # noqa: B009 - a Decoded, not a Rejection
    assert str.__str__(payload["c_decimal"]) == "-123456789012.123456"
    assert payload["c_text"].startswith("O'Brien")


def test_a_duplicate_key_the_service_accepts_is_ok_only_because_the_reader_refuses_it() -> None:
    [duplicate] = [case for case in REFUSALS if case.check == DUPLICATE_KEY]
    result = accepted("refusal: duplicate SUPER key", duplicate, "FINISHED", "invalid_super", 1)
    assert (result.ok, result.said) == (True, "FINISHED (accepted)")
    assert "reader refuses" in result.concluded
    assert "DuplicateKeyError" in result.note
    # Without the reader's refusal, or for any other refusal kind, acceptance is a MISMATCH
    assert not accepted("x", duplicate, "FINISHED", "", 1).ok
    [overflow] = [case for case in REFUSALS if case.check == "short"]
    assert not accepted("x", overflow, "FINISHED", "invalid_number", 1).ok


def test_refusal_values_are_written_as_a_sender_would() -> None:
    fields = {case.check: case.field for case in REFUSALS}
    assert fields["short"] == "40000"  # a JSON number
    assert fields["dup"] == '"{\\"a\\":1,\\"a\\":2}"'  # JSON text inside a string
    assert fields["null"] == "null"
    assert fields["long"] == '"' + "\\u00e9" * 9 + '"'
