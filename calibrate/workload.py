"""The scratch table and the INSERTs calibrate writes into it, shaped like the function's.

Like the function's statements (src/handler/ingest/sql.py): multi-row `INSERT ... VALUES` with
every value a named Data API parameter, `CAST(:p AS TIMESTAMP)`, `CAST(:p AS DECIMAL(18,6))` and
`JSON_PARSE(:p)` for the typed columns, plain `:p` for VARCHARs, and a size budget of SQL text
plus parameter names and values. The values are random hex: nothing personal, nothing a cache
could recognise. Only identifiers calibrate validated or made itself enter the SQL text.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass

from calibrate.recommend import KB

# Lower-case unquoted identifiers, as the template's TargetTable allows.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]{0,126}")  # always fullmatch: `$` allows a "\n"
TABLE_PREFIX = "ingest_calibrate_"

# (name, Redshift type, placeholder before, placeholder after)
_COLUMNS = (
    ("event_id", "VARCHAR(64) NOT NULL", ":", ""),
    ("event_name", "VARCHAR(256)", ":", ""),
    ("app_id", "VARCHAR(256)", ":", ""),
    ("user_agent", "VARCHAR(65535)", ":", ""),  # the filler that sets a row's size
    ("event_time", "TIMESTAMP", "CAST(:", " AS TIMESTAMP)"),
    ("event_revenue", "DECIMAL(18,6)", "CAST(:", " AS DECIMAL(18,6))"),
    ("event_value", "SUPER", "JSON_PARSE(:", ")"),
)
COLUMN_NAMES = tuple(name for name, *_ in _COLUMNS)
STATEMENT_MAX_BYTES = 100_000  # the function's STATEMENT_MAX_BYTES default
ROW_BYTES = 1_700  # what an AppsFlyer row adds to the function's INSERT (docs/capacity.md)


def validate_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{what} must be a lower-case unquoted identifier ([a-z_][a-z0-9_$]*, at most "
            f"127 characters), not {value!r}"
        )
    return value


def scratch_table(schema: str) -> str:
    """A fresh `<schema>.ingest_calibrate_<8 hex>`: never an existing table's name."""
    return f"{validate_identifier(schema, '--schema')}.{TABLE_PREFIX}{uuid.uuid4().hex[:8]}"


def create_table_sql(table: str) -> str:
    columns = ", ".join(f"{name} {kind}" for name, kind, _, _ in _COLUMNS)
    # BACKUP NO: a scratch table has no business in the cluster's snapshots.
    return f"CREATE TABLE {table} ({columns}) BACKUP NO"


def drop_table_sql(table: str) -> str:
    return f"DROP TABLE IF EXISTS {table}"


@dataclass(frozen=True)
class Transaction:
    """One submit: one SQL (ExecuteStatement) or several (BatchExecuteStatement), one commit."""

    sqls: tuple[str, ...]
    parameters: tuple[tuple[str, str], ...]  # one list shared by every SQL
    rows: int
    size_bytes: int  # SQL text plus parameter names and values, as the function budgets

    @property
    def kb(self) -> float:
        return self.size_bytes / KB

    def data_api_parameters(self) -> list[dict[str, str]]:
        return [{"name": name, "value": value} for name, value in self.parameters]


@dataclass(frozen=True)
class Shape:
    """What each submit of one measurement carries."""

    label: str
    rows_per_statement: int | None  # None: as many as fit in STATEMENT_MAX_BYTES
    statements: int = 1  # more than one: BatchExecuteStatement, one transaction


def _row_values(row_bytes: int) -> tuple[str, ...]:
    filler = max(1, row_bytes - 160) // 2  # hex doubles; the other columns and tokens ~160 B
    return (
        str(uuid.uuid4()),
        "af_purchase",
        f"id{secrets.token_hex(8)}",
        secrets.token_hex(filler),
        f"2024-01-01 00:{secrets.randbelow(60):02d}:{secrets.randbelow(60):02d}.123456",
        f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**6):06d}",
        f'{{"af_revenue":"{secrets.token_hex(4)}","n":{secrets.randbelow(1000)}}}',
    )


def build_transaction(
    table: str,
    shape: Shape,
    *,
    row_bytes: int = ROW_BYTES,
    max_bytes: int = STATEMENT_MAX_BYTES,
) -> Transaction:
    """Fresh values for one submit of this shape; each SQL within max_bytes with its own
    parameters, names unique across the transaction's SQLs."""
    prefix = f"INSERT INTO {table} ({','.join(COLUMN_NAMES)}) VALUES "  # noqa: S608 (identifiers only)
    sqls: list[str] = []
    parameters: list[tuple[str, str]] = []
    rows = size = 0
    for _ in range(shape.statements):
        fragments: list[str] = []
        statement_size = len(prefix)
        while shape.rows_per_statement is None or len(fragments) < shape.rows_per_statement:
            values = _row_values(row_bytes)
            first = len(parameters)
            names = [f"p{first + i}" for i in range(len(values))]
            tokens = [
                f"{before}{name}{after}"
                for (_, _, before, after), name in zip(_COLUMNS, names, strict=True)
            ]
            fragment = "(" + ",".join(tokens) + ")"
            added = len(fragment) + (1 if fragments else 0)
            added += sum(len(n) + len(v.encode()) for n, v in zip(names, values, strict=True))
            if fragments and statement_size + added > max_bytes:
                break
            fragments.append(fragment)
            parameters.extend(zip(names, values, strict=True))
            statement_size += added
        sqls.append(prefix + ",".join(fragments))
        rows += len(fragments)
        size += statement_size
    return Transaction(tuple(sqls), tuple(parameters), rows, size)
