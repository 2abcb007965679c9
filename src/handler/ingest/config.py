"""Settings from the environment, validated once per cold start."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Redshift identifiers we accept: unquoted-style names only, so quoting them can never be abused.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]{0,126}")  # always fullmatch: `$` allows a "\n"
_TARGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The Data API rejects SQL over 100 KB; parameter values may count too, so we budget both.
_DATA_API_STATEMENT_LIMIT = 100_000
# Redshift inherits PostgreSQL's bind-parameter limit.
_POSTGRES_PARAMETER_LIMIT = 32_767


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable."""


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
class Settings:
    targets: tuple[Target, ...]
    table: str
    dead_letter_queue_url: str
    statement_max_bytes: int = _DATA_API_STATEMENT_LIMIT
    statement_max_parameters: int = _POSTGRES_PARAMETER_LIMIT
    statement_wait_seconds: int = 20
    poll_initial_seconds: float = 0.05
    poll_max_seconds: float = 2.0
    max_transient_retries: int = 3
    retry_base_seconds: float = 0.2
    retry_max_seconds: float = 5.0
    deadline_margin_seconds: float = 5.0
    # Names every statement (`<prefix>/<target>/...`) so a lost reply or an orphan is found again.
    statement_name_prefix: str = "sqs-redshift-ingest"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build and validate the settings; raise ConfigError naming the first bad variable."""
    targets = _parse_targets(_required(environ, "REDSHIFT_TARGETS"))
    table = _parse_table(_required(environ, "TARGET_TABLE"))
    dlq_url = _required(environ, "DEAD_LETTER_QUEUE_URL")
    if not re.match(r"^https?://", dlq_url):
        raise ConfigError("DEAD_LETTER_QUEUE_URL must be an SQS queue URL (https://...)")
    return Settings(
        targets=targets,
        table=table,
        dead_letter_queue_url=dlq_url,
        statement_max_bytes=_int(
            environ, "STATEMENT_MAX_BYTES", 100_000, 8_192, _DATA_API_STATEMENT_LIMIT
        ),
        statement_max_parameters=_int(
            environ, "STATEMENT_MAX_PARAMETERS", 32_767, 200, _POSTGRES_PARAMETER_LIMIT
        ),
        statement_wait_seconds=_int(environ, "STATEMENT_WAIT_SECONDS", 20, 1, 30),
        max_transient_retries=_int(environ, "MAX_TRANSIENT_RETRIES", 3, 0, 10),
        # Answering SQS and flushing metrics after the last call need a moment of their own.
        deadline_margin_seconds=_float(environ, "DEADLINE_MARGIN_SECONDS", 5.0, 1.0, 60.0),
        statement_name_prefix=_statement_name_prefix(environ),
    )


def _statement_name_prefix(environ: Mapping[str, str]) -> str:
    # Lambda sets AWS_LAMBDA_FUNCTION_NAME; two stacks on one cluster then never confuse their
    # statements (and orphans) with each other's.
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip() or "sqs-redshift-ingest"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:140]


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required and is not set")
    return value


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _parse_table(raw: str) -> str:
    parts = raw.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        raise ConfigError(
            f"TARGET_TABLE must be schema-qualified lower-case identifiers like "
            f"public.appsflyer_events, got {raw!r}"
        )
    return raw


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
