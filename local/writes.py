"""What a transaction writes, as the cluster model charges it: the tables it locks, its bytes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Leading whitespace and comments, then the statement's first word(s).
_LEAD = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_IDENTIFIER = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_WRITE = re.compile(
    rf"""{_LEAD}
    (?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|DELETE|MERGE\s+INTO|COPY|TRUNCATE(?:\s+TABLE)?)
    \s+(?:ONLY\s+)?
    (?P<name>{_IDENTIFIER}(?:\s*\.\s*{_IDENTIFIER}){{0,2}})""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_PART = re.compile(_IDENTIFIER)
_FIRST_WORD = re.compile(rf"{_LEAD}(?P<word>[A-Za-z]+)", re.DOTALL)
# A transaction made only of these reads: it has nothing to commit.
_READS = frozenset({"SELECT", "WITH", "SHOW", "EXPLAIN", "VALUES"})
# Redshift resolves an unqualified name through search_path, whose first schema is public.
_DEFAULT_SCHEMA = "public"


def _normalized(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part.lower()  # unquoted identifiers fold to lower case


def written_table(sql: str, database: str) -> str | None:
    """`database.schema.table` that this SQL writes (its DML target), or None for any other SQL.

    DDL (CREATE, ALTER, DROP) takes no table write lock in the model: only DML is serialized.
    LOCK takes none: a claim (claim.py) takes PostgreSQL's lock first and the model's at its
    INSERT, after any append that ran on PostgreSQL and waits for the model's lock has
    committed (the other order deadlocks the two until the deadline).
    """
    found = _WRITE.match(sql)
    if found is None:
        return None
    parts = [_normalized(p) for p in _PART.findall(found.group("name"))]
    if len(parts) == 3:  # database.schema.table: the database is the connection's anyway
        parts = parts[1:]
    if len(parts) == 1:
        parts = [_DEFAULT_SCHEMA, *parts]
    return ".".join([database, *parts])


def reads_only(sqls: Iterable[str]) -> bool:
    """True when every SQL of the transaction starts with a read (SELECT, WITH, SHOW, ...)."""
    for sql in sqls:
        found = _FIRST_WORD.match(sql)
        if found is None or found.group("word").upper() not in _READS:
            return False
    return True


def written_bytes(sqls: Iterable[str], values: Mapping[str, str] | None) -> int:
    """The bytes a transaction sends to be written: each SQL's UTF-8 text plus each parameter
    value once (the shared parameter list of a BatchExecuteStatement counts once)."""
    text = sum(len(sql.encode()) for sql in sqls)
    return text + sum(len(value.encode()) for value in (values or {}).values())
