"""Settings: validated once; every bad value fails with a message naming the variable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.config import SETTINGS, ConfigError, Roles, Settings, Target, Tunable, load_settings

CLUSTER = {"name": "primary", "database": "dev", "cluster_identifier": "c1", "db_user": "ingest"}
WORKGROUP = {"name": "secondary", "database": "dev", "workgroup_name": "wg"}
DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/ingest-dlq"


def env(**overrides: Any) -> dict[str, str]:
    base = {
        "REDSHIFT_TARGETS": json.dumps([CLUSTER]),
        "TARGET_TABLE": "public.appsflyer_events",
        "DEAD_LETTER_QUEUE_URL": DLQ,
    }
    base.update({k: v for k, v in overrides.items() if v is not None})
    for key in [k for k, v in overrides.items() if v is None]:
        base.pop(key, None)
    return base


TUNABLES = [setting for setting in SETTINGS if isinstance(setting, Tunable)]


@pytest.mark.parametrize("setting", TUNABLES, ids=lambda setting: setting.variable)
def test_the_loader_follows_each_number_s_declaration(setting: Tunable[Any]) -> None:
    # Its Settings field (the variable in lower case) takes the declared default when unset,
    # any value within the declared bounds, and nothing outside them.
    field = setting.variable.lower()
    assert getattr(load_settings(env()), field) == setting.default == getattr(Settings, field)
    for value in (setting.low, setting.high):
        assert getattr(load_settings(env(**{setting.variable: str(value)})), field) == value
    step = 1 if setting.kind is int else 0.5
    for value in (setting.low - step, setting.high + step):
        with pytest.raises(ConfigError, match=f"^{setting.variable} must be between"):
            load_settings(env(**{setting.variable: str(value)}))


def test_single_cluster_target_with_defaults() -> None:
    settings = load_settings(env())
    assert settings.targets == (Target("primary", "dev", "c1", None, "ingest", None),)
    assert settings.statement_name_prefix == "sqs-redshift-ingest"
    assert settings.statement_max_bytes == 100_000
    assert settings.targets[0].connection_arguments() == {
        "Database": "dev",
        "ClusterIdentifier": "c1",
        "DbUser": "ingest",
    }


def test_statement_names_follow_the_function_name() -> None:
    settings = load_settings(env(AWS_LAMBDA_FUNCTION_NAME="prod-ingest-Function-AbC12"))
    assert settings.statement_name_prefix == "prod-ingest-Function-AbC12"


def test_primary_and_secondary() -> None:
    settings = load_settings(env(REDSHIFT_TARGETS=json.dumps([CLUSTER, WORKGROUP])))
    assert [t.name for t in settings.targets] == ["primary", "secondary"]
    assert settings.targets[1].connection_arguments() == {"Database": "dev", "WorkgroupName": "wg"}


def test_tunables_are_read() -> None:
    settings = load_settings(
        env(
            STATEMENT_MAX_BYTES="50000",
            MAX_TRANSIENT_RETRIES="5",
            DEADLINE_MARGIN_SECONDS="7.5",
            STATEMENT_WAIT_SECONDS="10",
        )
    )
    assert (settings.statement_max_bytes, settings.max_transient_retries) == (50_000, 5)
    assert (settings.deadline_margin_seconds, settings.statement_wait_seconds) == (7.5, 10)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"REDSHIFT_TARGETS": None}, "REDSHIFT_TARGETS is required"),
        ({"REDSHIFT_TARGETS": "{not json"}, "REDSHIFT_TARGETS is not valid JSON"),
        ({"REDSHIFT_TARGETS": "[]"}, "REDSHIFT_TARGETS must be a non-empty JSON array"),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**CLUSTER, "db_user": None}])},
            r"REDSHIFT_TARGETS\[0\] with cluster_identifier needs exactly one of db_user or "
            "secret_arn",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**CLUSTER, "workgroup_name": "wg"}])},
            r"REDSHIFT_TARGETS\[0\] needs exactly one of cluster_identifier or workgroup_name",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**WORKGROUP, "db_user": "x"}])},
            r"REDSHIFT_TARGETS\[0\] with workgroup_name takes secret_arn",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**CLUSTER, "database": ""}])},
            r"REDSHIFT_TARGETS\[0\].database must be a non-empty string",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**CLUSTER, "name": "bad name!"}])},
            r"REDSHIFT_TARGETS\[0\].name is required",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([{**CLUSTER, "port": 5439}])},
            r"REDSHIFT_TARGETS\[0\] has unknown keys \['port'\]",
        ),
        ({"REDSHIFT_TARGETS": json.dumps([CLUSTER, CLUSTER])}, "duplicate target names"),
        (
            {"REDSHIFT_TARGETS": json.dumps([CLUSTER, {**CLUSTER, "name": "copy"}])},
            r"REDSHIFT_TARGETS: targets 'primary' and 'copy' name the same destination",
        ),
        (
            # Another user on the same cluster and database is still the same table.
            {
                "REDSHIFT_TARGETS": json.dumps(
                    [CLUSTER, {**CLUSTER, "name": "b", "db_user": "other", "database": "DEV"}]
                )
            },
            "name the same destination",
        ),
        (
            {"REDSHIFT_TARGETS": json.dumps([WORKGROUP, {**WORKGROUP, "name": "twin"}])},
            "name the same destination",
        ),
        ({"TARGET_TABLE": None}, "TARGET_TABLE is required"),
        ({"TARGET_TABLE": "appsflyer_events"}, "TARGET_TABLE must be schema-qualified"),
        ({"TARGET_TABLE": 'public."x"; drop table y'}, "TARGET_TABLE must be schema-qualified"),
        ({"TARGET_TABLE": "Public.Events"}, "TARGET_TABLE must be schema-qualified"),
        ({"TARGET_TABLE": "public\n.appsflyer_events"}, "TARGET_TABLE must be schema-qualified"),
        (
            {"DEADLINE_MARGIN_SECONDS": "0.5"},
            "DEADLINE_MARGIN_SECONDS must be between 1.0 and 60.0",
        ),
        ({"DEAD_LETTER_QUEUE_URL": None}, "DEAD_LETTER_QUEUE_URL is required"),
        ({"DEAD_LETTER_QUEUE_URL": "ingest-dlq"}, "DEAD_LETTER_QUEUE_URL must be an SQS queue URL"),
        ({"STATEMENT_MAX_BYTES": "lots"}, "STATEMENT_MAX_BYTES must be an integer"),
        ({"STATEMENT_MAX_BYTES": "200000"}, "STATEMENT_MAX_BYTES must be between 8192 and 100000"),
        ({"STATEMENT_WAIT_SECONDS": "31"}, "STATEMENT_WAIT_SECONDS must be between 1 and 30"),
        ({"DEADLINE_MARGIN_SECONDS": "soon"}, "DEADLINE_MARGIN_SECONDS must be a number"),
        ({"MAX_TRANSIENT_RETRIES": "-1"}, "MAX_TRANSIENT_RETRIES must be between 0 and 10"),
    ],
)
def test_bad_settings_name_the_variable(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env(**overrides))


def test_same_cluster_with_another_database_is_another_destination() -> None:
    other_database = {**CLUSTER, "name": "archive", "database": "archive"}
    settings = load_settings(env(REDSHIFT_TARGETS=json.dumps([CLUSTER, other_database])))
    assert len(settings.targets) == 2


def test_a_cluster_and_a_workgroup_of_the_same_name_are_different_destinations() -> None:
    same_name = {**WORKGROUP, "workgroup_name": "c1"}
    assert len(load_settings(env(REDSHIFT_TARGETS=json.dumps([CLUSTER, same_name]))).targets) == 2


# ---- any table: transactions, schema refresh and the columns with a role ---------------------


def test_new_settings_default_to_the_example_tables_behaviour() -> None:
    settings = load_settings(env())
    assert settings.statements_per_transaction == 40  # BatchExecuteStatement's own limit
    assert settings.schema_refresh_seconds == 300
    assert settings.roles == Roles(
        message_id_column="sqs_message_id",
        overflow_column="extra",
        default_columns=("ingested_at",),
        local_time_patterns=("*_selected_timezone",),
        sort_key_column="event_time",
        field_mapping=(),
    )


def test_transaction_size_and_schema_refresh_are_read() -> None:
    settings = load_settings(env(STATEMENTS_PER_TRANSACTION="1", SCHEMA_REFRESH_SECONDS="60"))
    assert (settings.statements_per_transaction, settings.schema_refresh_seconds) == (1, 60)


def test_roles_of_another_table_are_read() -> None:
    # Given an orders table whose columns have other names
    settings = load_settings(
        env(
            MESSAGE_ID_COLUMN="message_id",
            OVERFLOW_COLUMN="attributes",
            DEFAULT_COLUMNS=" created_at , loaded_at ",
            LOCAL_TIME_COLUMNS="*_local,shop_time",
            SORT_KEY_COLUMN="ordered_at",
            FIELD_MAPPING='{"orderId": "order_id", "customer.address.country": "country"}',
        )
    )
    # Then each role names its column; mapped paths are split into their segments
    assert settings.roles == Roles(
        message_id_column="message_id",
        overflow_column="attributes",
        default_columns=("created_at", "loaded_at"),
        local_time_patterns=("*_local", "shop_time"),
        sort_key_column="ordered_at",
        field_mapping=(
            (("orderId",), "order_id"),
            (("customer", "address", "country"), "country"),
        ),
    )


@pytest.mark.parametrize("none", ["none", "NONE", " None "])
def test_none_switches_the_optional_roles_off(none: str) -> None:
    settings = load_settings(
        env(
            OVERFLOW_COLUMN=none,
            DEFAULT_COLUMNS=none,
            LOCAL_TIME_COLUMNS=none,
            SORT_KEY_COLUMN=none,
        )
    )
    roles = settings.roles
    assert (roles.overflow_column, roles.default_columns) == (None, ())
    assert (roles.local_time_patterns, roles.sort_key_column) == ((), None)
    assert roles.message_id_column == "sqs_message_id"  # exactly-once needs it: never off


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"STATEMENTS_PER_TRANSACTION": "0"},
            "STATEMENTS_PER_TRANSACTION must be between 1 and 40",
        ),
        (
            {"STATEMENTS_PER_TRANSACTION": "41"},
            "STATEMENTS_PER_TRANSACTION must be between 1 and 40",
        ),
        ({"STATEMENTS_PER_TRANSACTION": "4.5"}, "STATEMENTS_PER_TRANSACTION must be an integer"),
        ({"SCHEMA_REFRESH_SECONDS": "0"}, "SCHEMA_REFRESH_SECONDS must be between 1 and 86400"),
        ({"SCHEMA_REFRESH_SECONDS": "soon"}, "SCHEMA_REFRESH_SECONDS must be an integer"),
        ({"MESSAGE_ID_COLUMN": "Message_Id"}, "MESSAGE_ID_COLUMN must be a lower-case column"),
        ({"MESSAGE_ID_COLUMN": 'id"; drop'}, "MESSAGE_ID_COLUMN must be a lower-case column"),
        ({"OVERFLOW_COLUMN": "extra stuff"}, "OVERFLOW_COLUMN must be a lower-case column"),
        ({"SORT_KEY_COLUMN": "1st"}, "SORT_KEY_COLUMN must be a lower-case column"),
        ({"DEFAULT_COLUMNS": "a,,b"}, "DEFAULT_COLUMNS must list lower-case column names"),
        ({"DEFAULT_COLUMNS": "a,*_at"}, "DEFAULT_COLUMNS must list lower-case column names"),
        ({"LOCAL_TIME_COLUMNS": "*_local,?x"}, "LOCAL_TIME_COLUMNS must list lower-case column"),
        ({"LOCAL_TIME_COLUMNS": "*_Local"}, "LOCAL_TIME_COLUMNS must list lower-case column"),
        ({"FIELD_MAPPING": "{not json"}, "FIELD_MAPPING is not valid JSON"),
        ({"FIELD_MAPPING": '["a"]'}, "FIELD_MAPPING must be a JSON object"),
        ({"FIELD_MAPPING": '{"": "a"}'}, "FIELD_MAPPING has an empty path"),
        ({"FIELD_MAPPING": '{"a..b": "a"}'}, "FIELD_MAPPING has an empty path or path segment"),
        ({"FIELD_MAPPING": '{"a.": "a"}'}, "FIELD_MAPPING has an empty path or path segment"),
        ({"FIELD_MAPPING": '{"a": "A"}'}, r"FIELD_MAPPING\['a'\] must be a lower-case column"),
        ({"FIELD_MAPPING": '{"a": 1}'}, r"FIELD_MAPPING\['a'\] must be a lower-case column"),
        ({"FIELD_MAPPING": '{"a": "x", "b.c": "x"}'}, "FIELD_MAPPING maps two paths to one"),
        (
            {"FIELD_MAPPING": '{"id": "sqs_message_id"}'},
            "FIELD_MAPPING maps a field to sqs_message_id, which the function fills itself",
        ),
        (
            {"FIELD_MAPPING": '{"other": "extra"}'},
            "FIELD_MAPPING maps a field to extra, which the function fills itself",
        ),
        (
            {"FIELD_MAPPING": '{"at": "ingested_at"}'},
            "FIELD_MAPPING maps a field to ingested_at, which the function fills itself",
        ),
        (
            {"MESSAGE_ID_COLUMN": "extra"},
            "MESSAGE_ID_COLUMN must not be OVERFLOW_COLUMN or in DEFAULT_COLUMNS",
        ),
        (
            {"DEFAULT_COLUMNS": "ingested_at,sqs_message_id"},
            "MESSAGE_ID_COLUMN must not be OVERFLOW_COLUMN or in DEFAULT_COLUMNS",
        ),
        ({"DEFAULT_COLUMNS": "extra"}, "OVERFLOW_COLUMN must not be in DEFAULT_COLUMNS"),
    ],
)
def test_bad_new_settings_name_the_variable(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env(**overrides))
