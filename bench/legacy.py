"""The old worker, reimplemented minimally: literal-value INSERTs submitted and never waited for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ingest.records import Row, read_message
from ingest.schema import ColumnKind, quote_identifier
from local.appsflyer import INSERT_COLUMNS, validate

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
else:
    RedshiftDataAPIServiceClient = Any

_COLUMN_LIST = ",".join(quote_identifier(c.name) for c in INSERT_COLUMNS)
_SUPER = tuple(c.kind is ColumnKind.SUPER for c in INSERT_COLUMNS)


@dataclass(frozen=True)
class LegacyConfig:
    """One of the old system's stages: how many rows per INSERT, where it sends them."""

    rows_per_insert: int  # 1: one INSERT per message; 10: its "batch insert upgrade"
    cluster_identifier: str
    database: str
    db_user: str
    table: str


def _literal(value: str | bool | None, is_super: bool) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    # The old system wrote values into the SQL text; doubling quotes is what keeps a
    # benchmark's realistic text (O'Brien, JSON) from breaking the statement.
    quoted = "'" + value.replace("'", "''") + "'"
    return f"JSON_PARSE({quoted})" if is_super else quoted


def legacy_insert(table: str, rows: Sequence[Row]) -> str:
    """`INSERT INTO t (...) VALUES (...),(...)` with every value inline, as the old system sent."""
    tuples = (
        "(" + ",".join(_literal(v, s) for v, s in zip(row.values, _SUPER, strict=True)) + ")"
        for row in rows
    )
    return f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES " + ",".join(tuples)  # noqa: S608


class LegacyWorker:
    """Per batch of 10 messages: submit, don't wait, report which submits were refused.

    Refused messages are not deleted, so they come back after the visibility timeout (the old
    code deleted only after `insertBatchData` resolved). Accepted ones are deleted at once:
    whatever then happens to their statement, nobody looks.
    """

    def __init__(self, config: LegacyConfig, client: RedshiftDataAPIServiceClient) -> None:
        self._config = config
        self._client = client
        # Promise.allSettled over the batch: the one-INSERT-per-message stage submitted in parallel.
        self._pool = ThreadPoolExecutor(max_workers=10, thread_name_prefix="submit")

    def handle(self, records: Sequence[Mapping[str, Any]]) -> set[str]:
        """Return the ids of the messages whose submit failed (they must not be deleted)."""
        rows: list[Row] = []
        for record in records:
            outcome = validate(read_message(record))
            # The benchmark's bodies are clean; a bad one would be a bug in the benchmark.
            assert isinstance(outcome, Row), outcome
            rows.append(outcome)
        size = self._config.rows_per_insert
        groups = [rows[i : i + size] for i in range(0, len(rows), size)]
        refused: set[str] = set()
        for group, accepted in zip(groups, self._pool.map(self._submit, groups), strict=True):
            if not accepted:
                refused.update(row.message_id for row in group)
        return refused

    def _submit(self, rows: list[Row]) -> bool:
        try:
            self._client.execute_statement(
                ClusterIdentifier=self._config.cluster_identifier,
                Database=self._config.database,
                DbUser=self._config.db_user,
                Sql=legacy_insert(self._config.table, rows),
            )
        except (ClientError, BotoCoreError):
            return False
        return True
