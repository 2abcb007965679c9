"""Settings from the environment, validated once per cold start."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ingest.limits import (
    DEFAULT_REQUEST_BYTES,
    IDENTIFIER_BYTES,
    MAX_RECEIVE_COUNT,
    PARAMETERS,
    REDSHIFT_STATEMENT_BYTES,
    SQLS_PER_BATCH,
    STATEMENT_BYTES,
    WAIT_SECONDS_MAX,
)

# Redshift identifiers we accept: unquoted-style names only, so quoting them can never be abused.
# Always fullmatch: `$` allows a "\n".
_IDENTIFIER = re.compile(rf"[a-z_][a-z0-9_$]{{0,{IDENTIFIER_BYTES - 1}}}")
_TARGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable."""


# ---- every variable the function reads, declared once: the settings table ---------------------
# Each declaration is one row (variable, default, bounds, meaning): load_settings reads every
# variable through its declaration, the Settings defaults are the declarations' defaults, and
# tests/unit/test_config_readme.py renders the README's configuration table from SETTINGS and
# fails when the README differs.


@dataclass(frozen=True)
class Required:
    variable: str
    meaning: str

    def read(self, environ: Mapping[str, str]) -> str:
        value = environ.get(self.variable, "").strip()
        if not value:
            raise ConfigError(f"{self.variable} is required and is not set")
        return value


@dataclass(frozen=True)
class Text:
    """An optional text setting: its default when unset."""

    variable: str
    default: str
    meaning: str

    def read(self, environ: Mapping[str, str]) -> str:
        return environ.get(self.variable, "").strip() or self.default


Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Tunable(Generic[Number]):
    """An optional number: its default when unset, refused outside [low, high]."""

    kind: type[Number]
    variable: str
    default: Number
    low: Number
    high: Number
    meaning: str

    def read(self, environ: Mapping[str, str]) -> Number:
        raw = environ.get(self.variable, "").strip()
        if not raw:
            return self.default
        try:
            value = self.kind(raw)
        except ValueError:
            noun = "an integer" if self.kind is int else "a number"
            raise ConfigError(f"{self.variable} must be {noun}, got {raw!r}") from None
        if not self.low <= value <= self.high:
            raise ConfigError(
                f"{self.variable} must be between {self.low} and {self.high}, got {value}"
            )
        return value


REDSHIFT_TARGETS = Required(
    "REDSHIFT_TARGETS",
    "JSON array of targets. Each: `name`, `database`, and either `cluster_identifier` with "
    "`db_user` or `secret_arn`, or `workgroup_name` with an optional `secret_arn`. Example: "
    '`[{"name":"primary","database":"dev","workgroup_name":"ingest"}]`',
)
TARGET_TABLE = Required(
    "TARGET_TABLE", "schema-qualified table, lower-case identifiers: `public.appsflyer_events`"
)
DEAD_LETTER_QUEUE_URL = Required(
    "DEAD_LETTER_QUEUE_URL", "SQS queue URL for permanently bad records"
)
STATEMENT_MAX_BYTES = Tunable(
    int,
    "STATEMENT_MAX_BYTES",
    default=STATEMENT_BYTES,
    low=8_192,
    high=STATEMENT_BYTES,
    meaning="budget per statement: SQL text plus parameter names and values",
)
STATEMENT_MAX_PARAMETERS = Tunable(
    int,
    "STATEMENT_MAX_PARAMETERS",
    default=PARAMETERS,
    low=200,
    high=PARAMETERS,
    meaning="bind parameters per statement",
)
REQUEST_MAX_BYTES = Tunable(
    int,
    "REQUEST_MAX_BYTES",
    default=DEFAULT_REQUEST_BYTES,
    low=65_536,
    high=REDSHIFT_STATEMENT_BYTES,
    meaning="budget per Data API request (a whole `BatchExecuteStatement`: its SQLs and "
    "parameters as JSON); no public source gives the service's limit, and a refusal for size "
    "lowers it further",
)
SOURCE_MAX_RECEIVE_COUNT = Tunable(
    int,
    "SOURCE_MAX_RECEIVE_COUNT",
    default=10,
    low=1,
    high=MAX_RECEIVE_COUNT,
    meaning="the source queue's `maxReceiveCount`: a record still failing on that receive is "
    "dead-lettered by the function (with its reason and the targets lacking it) instead of "
    "being moved by SQS without them",
)
STATEMENT_WAIT_SECONDS = Tunable(
    int,
    "STATEMENT_WAIT_SECONDS",
    default=20,
    low=1,
    high=WAIT_SECONDS_MAX,
    meaning="`WaitTimeSeconds` per `ExecuteStatement` and `BatchExecuteStatement`; a statement "
    "still running after it is polled",
)
MAX_TRANSIENT_RETRIES = Tunable(
    int,
    "MAX_TRANSIENT_RETRIES",
    default=3,
    low=0,
    high=10,
    meaning="jittered retries of a statement inside one invocation (`retry_policy.py`)",
)
DEADLINE_MARGIN_SECONDS = Tunable(
    float,
    "DEADLINE_MARGIN_SECONDS",
    # Answering SQS and flushing metrics after the last call need a moment of their own.
    default=5.0,
    low=1.0,
    high=60.0,
    meaning="every call has returned this long before the Lambda timeout; cancels and one "
    "dead-letter send get their own time before it",
)
STATEMENTS_PER_TRANSACTION = Tunable(
    int,
    "STATEMENTS_PER_TRANSACTION",
    default=SQLS_PER_BATCH,
    low=1,
    high=SQLS_PER_BATCH,
    meaning="INSERTs committed together by one `BatchExecuteStatement`, after the column "
    "guard that takes one of its 40 SQLs (so at most 39 are used)",
)
SCHEMA_REFRESH_SECONDS = Tunable(
    int,
    "SCHEMA_REFRESH_SECONDS",
    default=300,
    low=1,
    high=86_400,
    meaning="the target table's columns are read again after this long (and at once when a "
    "statement fails because the table changed)",
)
# Columns with a role: the defaults are the AppsFlyer example's; any table may name its own.
# NO_COLUMN switches a role off (OVERFLOW_COLUMN, DEFAULT_COLUMNS, LOCAL_TIME_COLUMNS,
# SORT_KEY_COLUMN).
NO_COLUMN = "none"
MESSAGE_ID_COLUMN = Text(
    "MESSAGE_ID_COLUMN",
    "sqs_message_id",
    "VARCHAR column that holds each record's SQS message id (its identity for exactly-once)",
)
OVERFLOW_COLUMN = Text(
    "OVERFLOW_COLUMN",
    "extra",
    "SUPER column for payload fields without a column of their own, when the table has it "
    "(`none`: such fields are dropped and counted)",
)
DEFAULT_COLUMNS = Text(
    "DEFAULT_COLUMNS",
    "ingested_at",
    "comma-separated columns always left to the table's DEFAULT, never written from a payload",
)
LOCAL_TIME_COLUMNS = Text(
    "LOCAL_TIME_COLUMNS",
    "*_selected_timezone",
    "comma-separated column patterns (`*` wildcard) of TIMESTAMP columns that keep a sent "
    "offset's wall-clock time instead of converting it to UTC",
)
SORT_KEY_COLUMN = Text(
    "SORT_KEY_COLUMN",
    "event_time",
    "TIMESTAMP column (best: the sort key) that narrows the look-up of redelivered records; "
    "`none` or absent from the table: look up by message id alone",
)
FIELD_MAPPING = Text(
    "FIELD_MAPPING",
    "{}",
    "JSON object of payload field paths to columns, for renames and nested fields: "
    '`{"eventName":"event_name","device.ip":"ip"}`; a path comes before a field of the '
    "column's own name",
)
SETTINGS: tuple[Required | Text | Tunable[int] | Tunable[float], ...] = (
    REDSHIFT_TARGETS,
    TARGET_TABLE,
    DEAD_LETTER_QUEUE_URL,
    STATEMENT_MAX_BYTES,
    STATEMENT_MAX_PARAMETERS,
    STATEMENTS_PER_TRANSACTION,
    REQUEST_MAX_BYTES,
    SOURCE_MAX_RECEIVE_COUNT,
    STATEMENT_WAIT_SECONDS,
    MAX_TRANSIENT_RETRIES,
    DEADLINE_MARGIN_SECONDS,
    SCHEMA_REFRESH_SECONDS,
    MESSAGE_ID_COLUMN,
    OVERFLOW_COLUMN,
    DEFAULT_COLUMNS,
    LOCAL_TIME_COLUMNS,
    SORT_KEY_COLUMN,
    FIELD_MAPPING,
)


@dataclass(frozen=True)
class Target:
    """One Redshift destination: a provisioned cluster or a serverless workgroup."""

    name: str
    database: str
    cluster_identifier: str | None = None
    workgroup_name: str | None = None
    db_user: str | None = None
    secret_arn: str | None = None

    @property
    def destination(self) -> tuple[str, str]:
        """Where rows land: the cluster or workgroup, and the database (case-insensitive)."""
        if self.cluster_identifier:
            place = f"cluster {self.cluster_identifier}"
        else:
            place = f"workgroup {self.workgroup_name}"
        return place.lower(), self.database.lower()

    def connection_arguments(self) -> dict[str, str]:
        """The addressing arguments every ExecuteStatement call for this target carries."""
        args = {"Database": self.database}
        if self.cluster_identifier:
            args["ClusterIdentifier"] = self.cluster_identifier
        if self.workgroup_name:
            args["WorkgroupName"] = self.workgroup_name
        if self.db_user:
            args["DbUser"] = self.db_user
        if self.secret_arn:
            args["SecretArn"] = self.secret_arn
        return args


@dataclass(frozen=True)
class Roles:
    """Columns with a role in every target table (see the Text settings above)."""

    message_id_column: str = MESSAGE_ID_COLUMN.default
    overflow_column: str | None = OVERFLOW_COLUMN.default
    default_columns: tuple[str, ...] = (DEFAULT_COLUMNS.default,)
    local_time_patterns: tuple[str, ...] = (LOCAL_TIME_COLUMNS.default,)
    sort_key_column: str | None = SORT_KEY_COLUMN.default
    # (path, column): path is a field name, or dot-separated names into nested objects.
    field_mapping: tuple[tuple[tuple[str, ...], str], ...] = ()


@dataclass(frozen=True)
class Settings:
    targets: tuple[Target, ...]
    table: str
    dead_letter_queue_url: str
    statement_max_bytes: int = STATEMENT_MAX_BYTES.default
    statement_max_parameters: int = STATEMENT_MAX_PARAMETERS.default
    statement_wait_seconds: int = STATEMENT_WAIT_SECONDS.default
    max_transient_retries: int = MAX_TRANSIENT_RETRIES.default
    deadline_margin_seconds: float = DEADLINE_MARGIN_SECONDS.default
    statements_per_transaction: int = STATEMENTS_PER_TRANSACTION.default
    request_max_bytes: int = REQUEST_MAX_BYTES.default
    source_max_receive_count: int = SOURCE_MAX_RECEIVE_COUNT.default
    schema_refresh_seconds: int = SCHEMA_REFRESH_SECONDS.default
    roles: Roles = Roles()
    # Names every statement (`<prefix>/<target>/...`) so a lost reply or an orphan is found again.
    statement_name_prefix: str = "sqs-redshift-ingest"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build and validate the settings; raise ConfigError naming the first bad variable."""
    targets = _parse_targets(REDSHIFT_TARGETS.read(environ))
    table = _parse_table(TARGET_TABLE.read(environ))
    dlq_url = DEAD_LETTER_QUEUE_URL.read(environ)
    if not re.match(r"^https?://", dlq_url):
        raise ConfigError("DEAD_LETTER_QUEUE_URL must be an SQS queue URL (https://...)")
    return Settings(
        targets=targets,
        table=table,
        dead_letter_queue_url=dlq_url,
        statement_max_bytes=STATEMENT_MAX_BYTES.read(environ),
        statement_max_parameters=STATEMENT_MAX_PARAMETERS.read(environ),
        statement_wait_seconds=STATEMENT_WAIT_SECONDS.read(environ),
        max_transient_retries=MAX_TRANSIENT_RETRIES.read(environ),
        deadline_margin_seconds=DEADLINE_MARGIN_SECONDS.read(environ),
        statements_per_transaction=STATEMENTS_PER_TRANSACTION.read(environ),
        request_max_bytes=REQUEST_MAX_BYTES.read(environ),
        source_max_receive_count=SOURCE_MAX_RECEIVE_COUNT.read(environ),
        schema_refresh_seconds=SCHEMA_REFRESH_SECONDS.read(environ),
        roles=_parse_roles(environ),
        statement_name_prefix=_statement_name_prefix(environ),
    )


def _statement_name_prefix(environ: Mapping[str, str]) -> str:
    # Lambda sets AWS_LAMBDA_FUNCTION_NAME; two stacks on one cluster then never confuse their
    # statements (and orphans) with each other's.
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or "sqs-redshift-ingest"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:140]


def _parse_table(raw: str) -> str:
    parts = raw.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ConfigError(
            f"TARGET_TABLE must be schema-qualified lower-case identifiers like "
            f"public.appsflyer_events, got {raw!r}"
        )
    return raw


def _column_name(setting: Text, raw: str) -> str:
    if not _IDENTIFIER.fullmatch(raw):
        raise ConfigError(f"{setting.variable} must be a lower-case column name, got {raw!r}")
    return raw


def _optional_column(setting: Text, environ: Mapping[str, str]) -> str | None:
    raw = setting.read(environ)
    return None if raw.lower() == NO_COLUMN else _column_name(setting, raw)


def _column_list(setting: Text, environ: Mapping[str, str], *, patterns: bool) -> tuple[str, ...]:
    raw = setting.read(environ)
    if raw.lower() == NO_COLUMN:
        return ()
    names = tuple(part.strip() for part in raw.split(","))
    for name in names:
        if not _IDENTIFIER.fullmatch(name.replace("*", "_") if patterns else name):
            kind = "column patterns" if patterns else "column names"
            raise ConfigError(f"{setting.variable} must list lower-case {kind}, got {name!r}")
    return names


def _parse_mapping(raw: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"FIELD_MAPPING is not valid JSON: {exc.msg}") from None
    if not isinstance(decoded, dict):
        raise ConfigError("FIELD_MAPPING must be a JSON object of field paths to column names")
    mapping: list[tuple[tuple[str, ...], str]] = []
    for path, column in decoded.items():
        parts = tuple(path.split("."))
        if not path or not all(parts):
            raise ConfigError(f"FIELD_MAPPING has an empty path or path segment: {path!r}")
        if not isinstance(column, str) or not _IDENTIFIER.fullmatch(column):
            raise ConfigError(f"FIELD_MAPPING[{path!r}] must be a lower-case column name")
        mapping.append((parts, column))
    columns = [column for _, column in mapping]
    if len(set(columns)) != len(columns):
        raise ConfigError("FIELD_MAPPING maps two paths to one column")
    return tuple(mapping)


def _parse_roles(environ: Mapping[str, str]) -> Roles:
    message_id = _column_name(MESSAGE_ID_COLUMN, MESSAGE_ID_COLUMN.read(environ))
    roles = Roles(
        message_id_column=message_id,
        overflow_column=_optional_column(OVERFLOW_COLUMN, environ),
        default_columns=_column_list(DEFAULT_COLUMNS, environ, patterns=False),
        local_time_patterns=_column_list(LOCAL_TIME_COLUMNS, environ, patterns=True),
        sort_key_column=_optional_column(SORT_KEY_COLUMN, environ),
        field_mapping=_parse_mapping(FIELD_MAPPING.read(environ)),
    )
    pipeline = {message_id, roles.overflow_column, *roles.default_columns}
    if message_id == roles.overflow_column or message_id in roles.default_columns:
        raise ConfigError("MESSAGE_ID_COLUMN must not be OVERFLOW_COLUMN or in DEFAULT_COLUMNS")
    if roles.overflow_column is not None and roles.overflow_column in roles.default_columns:
        raise ConfigError("OVERFLOW_COLUMN must not be in DEFAULT_COLUMNS")
    for _, column in roles.field_mapping:
        if column in pipeline:
            raise ConfigError(
                f"FIELD_MAPPING maps a field to {column}, which the function fills itself "
                "(MESSAGE_ID_COLUMN, OVERFLOW_COLUMN or DEFAULT_COLUMNS)"
            )
    return roles


def _parse_targets(raw: str) -> tuple[Target, ...]:
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"REDSHIFT_TARGETS is not valid JSON: {exc.msg}") from None
    if not isinstance(decoded, list) or not decoded:
        raise ConfigError("REDSHIFT_TARGETS must be a non-empty JSON array of targets")
    targets = tuple(_parse_target(i, item) for i, item in enumerate(decoded))
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ConfigError(f"REDSHIFT_TARGETS has duplicate target names: {names}")
    destinations: dict[tuple[str, str], str] = {}
    for target in targets:
        key = target.destination
        if key in destinations:
            raise ConfigError(
                f"REDSHIFT_TARGETS: targets {destinations[key]!r} and {target.name!r} name the "
                f"same destination ({key[0]}, database {key[1]}): every row would land twice"
            )
        destinations[key] = target.name
    return targets


_TARGET_KEYS = {"name", "database", "cluster_identifier", "workgroup_name", "db_user", "secret_arn"}


def _parse_target(index: int, item: Any) -> Target:
    where = f"REDSHIFT_TARGETS[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a JSON object")
    unknown = set(item) - _TARGET_KEYS
    if unknown:
        raise ConfigError(f"{where} has unknown keys {sorted(unknown)}")
    values: dict[str, str | None] = {}
    for key in _TARGET_KEYS:
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}.{key} must be a non-empty string")
        values[key] = value
    name, database = values["name"], values["database"]
    if name is None or not _TARGET_NAME.fullmatch(name):
        raise ConfigError(f"{where}.name is required: letters, digits, '-' or '_' (max 64)")
    if database is None:
        raise ConfigError(f"{where}.database is required")
    cluster, workgroup = values["cluster_identifier"], values["workgroup_name"]
    db_user, secret = values["db_user"], values["secret_arn"]
    if (cluster is None) == (workgroup is None):
        raise ConfigError(f"{where} needs exactly one of cluster_identifier or workgroup_name")
    if cluster is not None and (db_user is None) == (secret is None):
        raise ConfigError(
            f"{where} with cluster_identifier needs exactly one of db_user or secret_arn"
        )
    if workgroup is not None and db_user is not None:
        raise ConfigError(f"{where} with workgroup_name takes secret_arn (optional), not db_user")
    return Target(
        name=name,
        database=database,
        cluster_identifier=cluster,
        workgroup_name=workgroup,
        db_user=db_user,
        secret_arn=secret,
    )
