"""Validation: each rule, each column type, byte-length edges with multi-byte characters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.exact_json import JsonNumber
from ingest.records import Decoded, Reason, Rejection, Row, SqsMessage, decode, read_message
from local.appsflyer import INSERT_COLUMNS, appsflyer_layout, validate
from tests.support import payload, sqs_record

COLUMN_INDEX = {c.name: i for i, c in enumerate(appsflyer_layout().columns)}


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
        # A 5001-digit integer is kept as the text that was sent: too long for VARCHAR(255).
        ('{"appsflyer_id": 1' + "0" * 5000 + "}", Reason.VALUE_TOO_LONG),
        (json.dumps(payload()).replace('"organic"', "NaN"), Reason.INVALID_JSON),
        (json.dumps(payload(install_time="0001-01-01T00:00:00+01:00")), Reason.INVALID_TIMESTAMP),
        (json.dumps(payload(install_time="9999-12-31T23:59:59-01:00")), Reason.INVALID_TIMESTAMP),
    ],
)
def test_pathological_input_is_a_reason_not_a_crash(body: str, reason: Reason) -> None:
    assert reason_of(check(body)) is reason


def _json_reads_nesting(depth: int) -> bool:
    """Whether this interpreter's own JSON reader reads `depth` nested arrays. Which can differs
    by patch release, not by minor version (3.11.7 and 3.12.1 cannot read 5,000; 3.13.0 can),
    so the test asks the interpreter rather than its version."""
    try:
        json.loads("[" * depth + "]" * depth)
    except RecursionError:
        return False
    return True


def test_a_body_nested_5000_levels_deep_is_a_reason_not_a_crash() -> None:
    body = json.dumps(payload(deep="X")).replace('"X"', "[" * 5000 + "]" * 5000)
    # An interpreter whose JSON reader cannot read 5,000 levels makes it invalid JSON; one that
    # can (the Lambda runtime, 3.13) reads it, and SUPER's 1,000-level rule refuses it. Either
    # way a reason, never a crash, and never a row.
    expected = Reason.INVALID_SUPER if _json_reads_nesting(5000) else Reason.INVALID_JSON
    assert reason_of(check(body)) is expected


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
        ('{"k":"caf\\u00e9"}', '{"k":"caf\\u00e9"}'),  # JSON_PARSE reads the escape itself
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


# ---- exact values: every number keeps the digits that were sent ------------------------------


def test_decimal_sent_as_a_json_number_keeps_every_digit() -> None:
    # Given a number a binary float cannot hold (float() gives 12345678901.123455)
    body = json.dumps(payload()).replace('"event_revenue": "4.99"', '"event_revenue": 0')
    body = body[:-1] + ', "event_revenue_usd": 12345678901.123456}'
    # Then the DECIMAL column receives exactly the digits sent
    assert value_of(check(body), "event_revenue_usd") == "12345678901.123456"


@pytest.mark.parametrize(
    ("literal", "stored"),
    [("19.90", "19.9"), ("1e3", "1000"), ("-0.000001", "-0.000001"), ("1.5E+2", "150")],
)
def test_decimal_json_numbers_are_converted_exactly(literal: str, stored: str) -> None:
    body = json.dumps(payload())[:-1] + f', "af_cost_value": {literal}}}'
    assert value_of(check(body), "af_cost_value") == stored


def test_text_column_receives_a_number_literal_as_written() -> None:
    body = json.dumps(payload())[:-1] + ', "af_c_id": 19.90, "postal_code": 0012}'
    # 0012 is not JSON (leading zeros): the whole body is refused rather than guessed at.
    assert reason_of(check(body)) is Reason.INVALID_JSON
    body = json.dumps(payload())[:-1] + ', "af_c_id": 19.90, "af_sub2": 1E400}'
    row = check(body)
    assert value_of(row, "af_c_id") == "19.90"
    assert value_of(row, "af_sub2") == "1E400"  # no float could even hold this one


@pytest.mark.parametrize("ascii_only", [True, False])
def test_super_columns_keep_number_literals_verbatim(ascii_only: bool) -> None:
    text = "plain" if ascii_only else "caf\u00e9"
    numbers = '{"price": 19.90, "big": 123456789012345678901234567890, "tiny": 1.000000000000000001'
    event_value = numbers + f', "name": "{text}"}}'
    body = json.dumps(payload(event_value=event_value))[:-1]
    body += f', "unknown": {{"n": 19.90, "t": "{text}", "e": 1e-7}}}}'
    row = check(body)
    assert value_of(row, "event_value") == event_value  # as sent, digit for digit
    assert value_of(row, "extra") == f'{{"unknown":{{"n":19.90,"t":"{text}","e":1e-7}}}}'


@pytest.mark.parametrize(
    "raw", ["1_000", "\u0661\u0662", " 4.99", "4.99 ", "+-1", "1.2.3", "1e3", "NaN", "--1", "."]
)
def test_decimal_strings_take_only_ascii_digits_a_sign_and_a_point(raw: str) -> None:
    assert reason_of(check(payload(event_revenue=raw))) is Reason.INVALID_DECIMAL


@pytest.mark.parametrize(("raw", "stored"), [("+4.5", "4.5"), (".5", "0.5"), ("-7.", "-7")])
def test_decimal_strings_with_sign_or_bare_point_are_read_exactly(raw: str, stored: str) -> None:
    assert value_of(check(payload(event_revenue=raw)), "event_revenue") == stored


@pytest.mark.parametrize("field", ["appsflyer_id", "event_name"])
@pytest.mark.parametrize("blank", [" ", "   ", "\t\n"])
def test_whitespace_only_required_text_is_missing(field: str, blank: str) -> None:
    assert reason_of(check(payload(**{field: blank}))) is Reason.MISSING_REQUIRED_FIELD


# ---- SUPER values are checked as Redshift's JSON_PARSE checks them ----------------------------


@pytest.mark.parametrize(
    "event_value",
    [
        '{"a": 1, "a": 2}',  # JSON_PARSE refuses duplicate keys by default
        '{"outer": {"k": 1, "k": 1}}',
        '{"s": "' + "x" * 65_536 + '"}',  # a string over 65,535 bytes
        '{"s": "' + "\u00e9" * 32_768 + '"}',  # 32,768 characters, 65,536 bytes in UTF-8
        "[" * 1001 + "]" * 1001,  # nested deeper than 1,000 levels
    ],
)
def test_super_values_redshift_refuses_are_dead_lettered_with_a_reason(event_value: str) -> None:
    outcome = check(payload(event_value=event_value))
    assert reason_of(outcome) is Reason.INVALID_SUPER
    assert isinstance(outcome, Rejection)
    assert outcome.detail.startswith("event_value ")


def test_super_string_of_exactly_65535_bytes_and_1000_levels_are_accepted() -> None:
    longest = '{"s": "' + "x" * 65_535 + '"}'
    assert value_of(check(payload(event_value=longest)), "event_value") == longest
    deepest = "[" * 1000 + "]" * 1000
    assert value_of(check(payload(event_value=deepest)), "event_value") == deepest


def test_duplicate_key_inside_a_nested_object_of_the_body_is_invalid_json() -> None:
    body = json.dumps(payload())[:-1] + ', "custom": {"tier": "gold", "tier": "SECRET"}}'
    outcome = check(body)
    assert reason_of(outcome) is Reason.INVALID_JSON
    assert isinstance(outcome, Rejection)
    assert "SECRET" not in outcome.detail


def test_key_repeated_at_the_top_level_is_read_with_the_last_value_winning() -> None:
    # As JSON.parse and Python read it: the cost of checking every top-level key (13% of
    # json.loads) is not spent on a shape no producer is known to send.
    body = json.dumps(payload())[:-1] + ', "event_name": "other"}'
    assert value_of(check(body), "event_name") == "other"


def test_overflow_fields_over_the_super_limits_are_refused() -> None:
    assert reason_of(check(payload(unknown="y" * 65_536))) is Reason.INVALID_SUPER


# ---- the envelope: redrive attributes, and events SQS could never send ------------------------


def test_redriven_record_keeps_its_original_identity_and_owed_targets() -> None:
    record = sqs_record(payload(), "new-delivery-id")
    record["messageAttributes"] = {
        "original_message_id": {"stringValue": "first-id", "dataType": "String"},
        "failed_targets": {"stringValue": "secondary", "dataType": "String"},
    }
    message = read_message(record)
    row = validate(message)
    assert isinstance(row, Row)
    assert row.message_id == "new-delivery-id"  # SQS is answered about this delivery
    assert row.record_id == "first-id"
    assert value_of(row, "sqs_message_id") == "first-id"  # the table keeps one identity
    assert row.targets == frozenset({"secondary"})
    assert row.may_be_written


def test_first_delivery_may_not_be_written_anywhere_yet() -> None:
    row = validate(read_message(sqs_record(payload(), "m-9")))
    assert isinstance(row, Row)
    assert (row.record_id, row.targets, row.may_be_written) == ("m-9", None, False)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"original_message_id": {"stringValue": "bad id!"}}, "original_message_id"),
        ({"failed_targets": {"stringValue": "a,,b"}}, "failed_targets"),
        ({"failed_targets": {"binaryValue": "eA=="}}, "failed_targets"),
    ],
)
def test_malformed_redrive_attributes_are_named(attributes: dict[str, Any], message: str) -> None:
    # Anyone who sends to the queue sets attributes: a bad one is this record's problem only.
    record = sqs_record(payload(), "m-1")
    record["messageAttributes"] = attributes
    problem = read_message(record).redrive_problem
    assert problem is not None
    assert message in problem


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"Records": None}, "Records is a JSON null"),
        ({}, "Records is a JSON null"),
        ({"Records": {"a": 1}}, "Records is a JSON object"),
        ({"Records": [1]}, r"Records\[0\] is a JSON number"),
        ([], "not an SQS batch object"),
    ],
)
def test_events_sqs_never_sends_get_a_clear_error(event: Any, message: str) -> None:
    from ingest.records import InvalidEvent, read_records

    with pytest.raises(InvalidEvent, match=message):
        read_records(event)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"messageId": "m-1", "body": None}, r"Records\[0\]\.body is a JSON null"),
        ({"messageId": "m-1", "body": "{}", "attributes": []}, "attributes must be an object"),
        (
            {"messageId": "m-1", "body": "{}", "attributes": {"ApproximateReceiveCount": "x"}},
            "ApproximateReceiveCount is not a number",
        ),
    ],
)
def test_records_sqs_never_sends_get_a_clear_error(record: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_message(record)


# ---- decoding once, for every target's table ---------------------------------------------------


def test_a_body_is_decoded_once_with_its_number_literals_kept() -> None:
    message = SqsMessage("m-1", '{"n": 19.90, "i": 7, "s": "x"}', 1)
    decoded = decode(message)
    assert isinstance(decoded, Decoded)
    assert decoded.message is message
    assert decoded.payload == {"n": "19.90", "i": "7", "s": "x"}
    assert type(decoded.payload["n"]) is JsonNumber  # the text sent, never a float


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        ('{"city": "Berlin"}', True),
        ('{"city": "K\\u00f6ln"}', False),  # an escape may spell anything: the checked path
        ('{"city": "K\u00f6ln"}', False),  # raw UTF-8
        ('{"note": "a \\\\ backslash"}', True),
    ],
)
def test_only_an_ascii_body_without_escapes_takes_the_fast_path(body: str, plain: bool) -> None:
    decoded = decode(SqsMessage("m-1", body, 1))
    assert isinstance(decoded, Decoded)
    assert decoded.plain_ascii is plain


# ---- field names: Redshift folds identifiers to lower case -------------------------------------


@pytest.mark.parametrize("key", ["Country_Code", "COUNTRY_CODE", "country_Code"])
def test_a_field_sent_in_another_case_fills_its_column(key: str) -> None:
    body = payload()
    del body["country_code"]  # sent only in the other case
    body[key] = "DE"
    assert value_of(check(body), "country_code") == "DE"
    assert value_of(check(body), "extra") is None  # not also kept as an unknown field


def test_two_spellings_of_one_field_are_ambiguous_not_guessed() -> None:
    outcome = check(payload(ip="192.0.2.1", IP="198.51.100.7"))
    assert reason_of(outcome) is Reason.AMBIGUOUS_FIELD
    assert isinstance(outcome, Rejection)
    assert outcome.detail == "two fields differing only in case map to column ip"
