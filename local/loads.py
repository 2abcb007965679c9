"""What the model needs to know of a transaction beyond its bytes: whether it only appends (so
PostgreSQL can run it before it takes its tables' write locks) and which files a COPY loads.

A COPY stands for Redshift's `COPY table FROM 's3://...'`: the local PostgreSQL cannot read S3,
so the benchmark's Firehose-like design writes each delivery's object to a local file and sends
PostgreSQL's own `COPY table (columns) FROM '/path' WITH (FORMAT csv)`, which the superuser the
emulator connects as may run. The model charges it like any write (local.model.ClusterModel
.commit_seconds): the fixed part, the part per KB of the file it loads, and a part per file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

_LEAD = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)){0,2}'
# INSERT INTO t [(columns)] VALUES ...: its rows are the statement's own, whatever else is in
# the table. (A VALUES list can hold a sub-select; nothing this emulator runs writes one.)
_INSERT_VALUES = re.compile(
    rf"{_LEAD}INSERT\s+INTO\s+{_NAME}\s*(?:\([^()]*\)\s*)?VALUES\b", re.IGNORECASE | re.DOTALL
)
# COPY t [(columns)] FROM 'file' ...: a load from a server-side file.
_COPY_FILE = re.compile(
    rf"{_LEAD}COPY\s+{_NAME}\s*(?:\([^()]*\)\s*)?FROM\s+'(?P<path>(?:[^']|'')+)'",
    re.IGNORECASE | re.DOTALL,
)
_READ_WORDS = frozenset({"SELECT", "WITH", "SHOW", "EXPLAIN", "VALUES"})
_FIRST_WORD = re.compile(rf"{_LEAD}(?P<word>[A-Za-z]+)", re.DOTALL)


def _is_read(sql: str) -> bool:
    found = _FIRST_WORD.match(sql)
    return found is not None and found.group("word").upper() in _READ_WORDS


def appends_only(sqls: Iterable[str]) -> bool:
    """True when every SQL is a read, an INSERT ... VALUES or a COPY from a file, and one of
    them writes: the transaction's outcome then does not depend on when other writers commit."""
    writes = False
    for sql in sqls:
        if _INSERT_VALUES.match(sql) or _COPY_FILE.match(sql):
            writes = True
        elif not _is_read(sql):
            return False
    return writes


def loaded_files(sqls: Iterable[str]) -> dict[str, int]:
    """Each server-side file a COPY of the transaction loads, with its size in bytes (0 when it
    is missing: the COPY will fail, and a failed transaction is charged nothing)."""
    files: dict[str, int] = {}
    for sql in sqls:
        found = _COPY_FILE.match(sql)
        if found is None:
            continue
        path = found.group("path").replace("''", "'")
        try:
            files[path] = os.path.getsize(path)
        except OSError:
            files[path] = 0
    return files
