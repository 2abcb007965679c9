"""Validation: each rule, each column type, byte-length edges with multi-byte characters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.records import Reason, Rejection, Row, SqsMessage, read_message, validate
from ingest.schema import INSERT_COLUMNS
from tests.support import payload, sqs_record

COLUMN_INDEX = {c.name: i for i, c in enumerate(INSERT_COLUMNS)}


def check(body: Any, message_id: str = "m-1") -> Row | Rejection:
    text = body if isinstance(body, str) else json.dumps(body)
    return validate(SqsMessage(message_id, text, 1))


def value_of(row: Row | Rejection, column: str) -> Any:
    assert isinstance(row, Row), row
    return row.values[COLUMN_INDEX[column]]


def reason_of(outcome: Row | Rejection) -> Reason:
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason


def test_clean_payload_becomes_a_row_with_every_column() -> None:
    row = check(payload())
    assert isinstance(row, Row)
    assert len(row.values) == len(INSERT_COLUMNS)
    assert value_of(row, "appsflyer_id") == "1700000000000-1234567"
    assert value_of(row, "sqs_message_id") == "m-1"
    assert value_of(row, "extra") is None  # every field has a column


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", Reason.INVALID_JSON),
        ("", Reason.INVALID_JSON),
        ("[1, 2]", Reason.NOT_AN_OBJECT),
        ('"just a string"', Reason.NOT_AN_OBJECT),
        ("null", Reason.NOT_AN_OBJECT),
    ],
)
def test_body_must_be_a_json_object(body: str, reason: Reason) -> None:
    assert reason_of(check(body)) is reason


@pytest.mark.parametrize("field", ["appsflyer_id", "event_name", "event_time"])
@pytest.mark.parametrize("missing", ["absent", None, ""])
def test_required_fields(field: str, missing: Any) -> None:
    body = payload()
    if missing == "absent":
        del body[field]
    else:
        body[field] = missing
    outcome = check(body)
    assert reason_of(outcome) is Reason.MISSING_REQUIRED_FIELD
    assert isinstance(outcome, Rejection)
    assert field in outcome.detail


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-05-01 12:34:56.789", "2024-05-01 12:34:56.789"),  # AppsFlyer's format, as is
        ("2024-05-01 12:34:56", "2024-05-01 12:34:56"),
        ("2024-05-01T12:34:56Z", "2024-05-01 12:34:56"),
        ("2024-05-01T14:34:56.5+02:00", "2024-05-01 12:34:56.500000"),
        ("2024-05-01 14:34:56.789+0200", "2024-05-01 12:34:56.789000"),
        ("2024-05-01", "2024-05-01 00:00:00"),
    ],
)
def test_timestamps_appsflyer_and_iso8601_stored_in_utc(raw: str, stored: str) -> None:
    assert value_of(check(payload(event_time=raw)), "event_time") == stored


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2024-13-01 00:00:00",
        "2024-02-30 10:00:00",
        "20240501",
        "1714566896",
        1714566896,
        "2024-05-01 12:34:56.1234567",
    ],
)
def test_bad_timestamps_are_rejected(raw: Any) -> None:
    outcome = check(payload(install_time=raw))
    assert reason_of(outcome) is Reason.INVALID_TIMESTAMP
    assert isinstance(outcome, Rejection)
    assert "install_time" in outcome.detail


def test_selected_timezone_fields_keep_their_local_wall_clock() -> None:
    row = check(payload(event_time_selected_timezone="2024-05-01 14:34:56.789+0200"))
    assert value_of(row, "event_time_selected_timezone") == "2024-05-01 14:34:56.789"
    assert value_of(row, "event_time") == "2024-05-01 12:34:56.789"


def test_empty_typed_values_mean_null() -> None:
    row = check(payload(install_time="", wifi="", event_revenue=""))
    assert value_of(row, "install_time") is None
    assert value_of(row, "wifi") is None
    assert value_of(row, "event_revenue") is None


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), (" True ", True)],
)
def test_booleans(raw: Any, stored: bool) -> None:
    assert value_of(check(payload(wifi=raw)), "wifi") is stored


@pytest.mark.parametrize("raw", ["maybe", "1", 1, 0, "yes", [True]])
def test_bad_booleans_are_rejected(raw: Any) -> None:
    assert reason_of(check(payload(wifi=raw))) is Reason.INVALID_BOOLEAN


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("4.99", "4.99"),
        (4.99, "4.99"),
        (0.1, "0.1"),
        (12, "12"),
        ("-0.000001", "-0.000001"),
        ("999999999999.999999", "999999999999.999999"),  # 12 integer digits, 6 decimals: fits
        ("1.5000000", "1.5"),  # trailing zeros lose nothing
        ("1e3", "1000"),
        ("0", "0"),
    ],
)
def test_decimals_within_precision_and_scale(raw: Any, stored: str) -> None:
    assert value_of(check(payload(event_revenue=raw)), "event_revenue") == stored


@pytest.mark.parametrize(
    "raw",
    [
        "2024-05-01 12:34:56\n",
        "1000000000000",
        "1e12",
        "0.0000001",
        "1.1234567",
        "NaN",
        "Infinity",
        "abc",
        True,
        {"v": 1},
    ],
)
def test_decimals_outside_the_column_are_rejected(raw: Any) -> None:
    assert reason_of(check(payload(event_revenue=raw))) is Reason.INVALID_DECIMAL


# country_code is VARCHAR(10): Redshift counts bytes, so the limit is 10 bytes, not characters.
@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("ABCDEFGHIJ", True),  # 10 bytes
        ("ABCDEFGHIJK", False),  # 11 bytes
        ("ééééé", True),  # 5 characters, 10 bytes
        ("éééééa", False),  # 6 characters, 11 bytes
        ("€€€a", True),  # 3-byte characters: 10 bytes
        ("€€€ab", False),  # 11 bytes
        ("😀😀ab", True),  # 4-byte characters: 10 bytes
        ("😀😀abc", False),  # 5 characters, 11 bytes
    ],
)
def test_varchar_limit_counts_utf8_bytes(text: str, fits: bool) -> None:
    outcome = check(payload(country_code=text))
    if fits:
        assert value_of(outcome, "country_code") == text
    else:
        assert reason_of(outcome) is Reason.VALUE_TOO_LONG
        assert isinstance(outcome, Rejection)
        assert "country_code" in outcome.detail
        assert text not in outcome.detail  # reasons never repeat values


def test_long_user_agent_fits_its_explicit_size() -> None:
    agent = "Mozilla/5.0 " + "x" * 1000  # would not fit Redshift's TEXT (VARCHAR(256))
    assert value_of(check(payload(user_agent=agent)), "user_agent") == agent


@pytest.mark.parametrize(
    "overrides",
    [{"city": "Ber\x00lin"}, {"event_value": json.dumps({"k": "a\x00b"})}, {"unknown": "x\x00"}],
)
def test_nul_characters_are_rejected(overrides: dict[str, Any]) -> None:
    assert reason_of(check(payload(**overrides))) is Reason.NUL_CHARACTER


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"appsflyer_id": 1' + "0" * 5000 + "}", Reason.INVALID_JSON),  # int too long to convert
        (json.dumps(payload()).replace('"organic"', "NaN"), Reason.INVALID_JSON),
        (
            json.dumps(payload(deep="X")).replace('"X"', "[" * 5000 + "]" * 5000),
            Reason.INVALID_JSON,
        ),
        (json.dumps(payload(install_time="0001-01-01T00:00:00+01:00")), Reason.INVALID_TIMESTAMP),
        (json.dumps(payload(install_time="9999-12-31T23:59:59-01:00")), Reason.INVALID_TIMESTAMP),
    ],
)
def test_pathological_input_is_a_reason_not_a_crash(body: str, reason: Reason) -> None:
    assert reason_of(check(body)) is reason


def test_deep_nesting_inside_event_value_is_a_reason_not_a_crash() -> None:
    deep = "[" * 900 + "]" * 900
    outcome = check(payload(event_value=deep))
    assert isinstance(outcome, (Row, Rejection))


@pytest.mark.parametrize("raw", ["\u0661\u0662", "12.\u0665"])  # Arabic-Indic digits
def test_non_ascii_digits_are_not_plain_decimals(raw: str) -> None:
    outcome = check(payload(event_revenue=raw))
    if isinstance(outcome, Row):
        assert value_of(outcome, "event_revenue") in ("12", "12.5")  # normalised to ASCII
    else:
        assert outcome.reason is Reason.INVALID_DECIMAL


def test_lone_surrogates_are_rejected() -> None:
    body = json.dumps(payload()).replace('"organic"', '"\\ud800"')
    assert reason_of(check(body)) is Reason.INVALID_UNICODE


def test_non_string_scalars_keep_their_json_spelling_in_varchar() -> None:
    row = check(payload(af_c_id=12345, postal_code=10115.5, app_version=True, af_sub1={"a": [1]}))
    assert value_of(row, "af_c_id") == "12345"
    assert value_of(row, "postal_code") == "10115.5"
    assert value_of(row, "app_version") == "true"
    assert value_of(row, "af_sub1") == '{"a":[1]}'


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        # JSON text is passed to JSON_PARSE as sent; other values are encoded compactly.
        (json.dumps({"af_revenue": "4.99", "n": [1, 2]}), '{"af_revenue": "4.99", "n": [1, 2]}'),
        ('{"k":"caf\\u00e9"}', '{"k":"café"}'),
        ({"already": "an object"}, '{"already":"an object"}'),
        ([1, "two"], '[1,"two"]'),
        ("plain text, not JSON", '"plain text, not JSON"'),
        ("42", "42"),
        (7.5, "7.5"),
        ("", None),
        ("ünïcødé", '"ünïcødé"'),
    ],
)
def test_super_takes_any_json_value(raw: Any, stored: str | None) -> None:
    assert value_of(check(payload(event_value=raw)), "event_value") == stored


def test_fields_without_a_column_are_kept_in_extra() -> None:
    row = check(payload(af_new_field="x", nested={"a": 1}, extra="sender's own", ingested_at="t"))
    assert json.loads(str(value_of(row, "extra"))) == {
        "af_new_field": "x",
        "nested": {"a": 1},
        "extra": "sender's own",
        "ingested_at": "t",
    }


def test_message_id_and_receive_count_come_from_the_envelope() -> None:
    message = read_message(sqs_record(payload(), "abc-123", receive_count=3))
    assert (message.message_id, message.receive_count) == ("abc-123", 3)
    row = validate(message)
    assert isinstance(row, Row)
    assert row.receive_count == 3
    assert value_of(row, "sqs_message_id") == "abc-123"


def test_record_without_message_id_is_an_upstream_bug() -> None:
    with pytest.raises(ValueError, match="messageId"):
        read_message({"body": "{}"})
