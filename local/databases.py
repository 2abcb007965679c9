"""One PostgreSQL database per (cluster or workgroup, database), created on first use, pooled."""

from __future__ import annotations

import hashlib
import re
import threading

import psycopg
from psycopg.types.string import TextLoader

from local.postgres import PostgresServer
from local.translate import split_statements, translate

# Redshift functions and types that statements use, defined in every database so that DML
# needs no rewriting (SUPER columns in DDL become JSONB by translation instead).
_SHIMS = """
CREATE DOMAIN super AS jsonb;
CREATE FUNCTION json_parse(text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT $1::jsonb $$;
CREATE FUNCTION json_serialize(jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT $1::text $$;
CREATE FUNCTION getdate() RETURNS timestamp
    LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT localtimestamp(0) $$;
CREATE FUNCTION nvl(anycompatible, anycompatible) RETURNS anycompatible
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce($1, $2) $$;
"""
_TEMPLATE = "rs_template"

# Results carry these as the text Redshift prints (stringValue), not as Python objects.
_TEXT_RESULT_TYPES = (
    "numeric",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "jsonb",
    "uuid",
)


def database_name(target: str, database: str) -> str:
    """The PostgreSQL database behind a target's database: readable, unique, <= 63 bytes."""
    readable = re.sub(r"[^a-z0-9]+", "_", f"{target}__{database}".lower()).strip("_")[:40]
    digest = hashlib.blake2s(f"{target}\0{database}".encode(), digest_size=5).hexdigest()
    return f"rs_{readable}_{digest}"


class Databases:
    """Creates the databases, hands out pooled connections for statements, drops them all."""

    def __init__(self, postgres: PostgresServer) -> None:
        self.postgres = postgres
        self._lock = threading.Lock()
        self._created: set[str] = set()
        self._idle: dict[str, list[psycopg.Connection]] = {}
        self._template_ready = False

    def ensure(self, target: str, database: str) -> str:
        name = database_name(target, database)
        with self._lock:
            if name in self._created:
                return name
            if not self._template_ready:
                self._create_template()
            if not self.postgres.database_exists(name):
                self.postgres.create_database(name, template=_TEMPLATE)
            self._created.add(name)
            return name

    def _create_template(self) -> None:
        if not self.postgres.database_exists(_TEMPLATE):
            self.postgres.create_database(_TEMPLATE)
            with self.postgres.connect(_TEMPLATE) as conn:
                conn.execute(_SHIMS)
        self._template_ready = True

    def acquire(self, target: str, database: str) -> psycopg.Connection:
        """A connection in a transaction-per-statement mode, from the pool or new."""
        name = self.ensure(target, database)
        with self._lock:
            idle = self._idle.get(name)
            if idle:
                return idle.pop()
        conn = self.postgres.connect(name, autocommit=False)
        for type_name in _TEXT_RESULT_TYPES:
            conn.adapters.register_loader(type_name, TextLoader)
        return conn

    def release(self, conn: psycopg.Connection, *, discard: bool = False) -> None:
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if discard or conn.closed or not idle:
            conn.close()
            return
        with self._lock:
            name = conn.info.dbname
            if name in self._created:
                self._idle.setdefault(name, []).append(conn)
                return
        conn.close()  # its database was dropped meanwhile

    def connect(self, target: str, database: str) -> psycopg.Connection:
        """A new autocommit connection for test assertions; the caller closes it."""
        return self.postgres.connect(self.ensure(target, database), autocommit=True)

    def execute_ddl(self, target: str, database: str, sql_text: str) -> None:
        """Run Redshift DDL (one or more statements) through the same translation as the API."""
        with self.connect(target, database) as conn:
            for statement in split_statements(sql_text):
                query, args = translate(statement).bind({})
                if args:
                    raise ValueError("DDL takes no parameters")
                conn.execute(query.encode())

    def drop_all(self) -> None:
        with self._lock:
            names, self._created = self._created, set()
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()
        for name in names:
            self.postgres.drop_database(name)

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()
