"""Redshift SQL -> PostgreSQL: named parameters to server-side binds, Redshift DDL to PostgreSQL."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import psycopg

from local.redshift_ddl import BYTES_CHECK_NAME, refused_ddl, translate_ddl

# Everything in which `:name` is not a parameter and `;` does not end a statement: literals,
# quoted identifiers, comments, dollar quoting and the `::` cast operator.
_SKIP = r"""
    (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'
  | '(?:[^']|'')*'
  | "(?:[^"]|"")*"
  | --[^\n]*
  | /\*.*?\*/
  | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$
  | ::
"""
_PLACEHOLDERS = re.compile(rf"(?P<skip>{_SKIP}) | :(?P<name>[A-Za-z0-9_]+)", re.VERBOSE | re.DOTALL)
_STATEMENT_ENDS = re.compile(rf"(?P<skip>{_SKIP}) | ;", re.VERBOSE | re.DOTALL)
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)

_DDL_KEYWORDS = ("CREATE", "ALTER")
# PostgreSQL's protocol caps bind parameters per statement at 65535.
_MAX_BINDS = 65535


BindMode = Literal["per-occurrence", "shared"]
BIND_MODES: tuple[BindMode, ...] = ("per-occurrence", "shared")


@dataclass(frozen=True)
class Translation:
    """A statement in PostgreSQL, cut at each `:name` placeholder (segments = names + 1).

    `error`: Redshift would refuse the statement (e.g. a CHECK constraint); it fails with this.
    """

    segments: tuple[str, ...]
    names: tuple[str, ...]
    error: str | None = None

    @functools.cached_property
    def used(self) -> frozenset[str]:
        return frozenset(self.names)

    @functools.cached_property
    def _numbered(self) -> str:
        parts = [self.segments[0]]
        for number, segment in enumerate(self.segments[1:], 1):
            parts.append(f"${number}")
            parts.append(segment)
        return "".join(parts)

    @functools.cached_property
    def _shared(self) -> tuple[str, tuple[str, ...]]:
        order = tuple(dict.fromkeys(self.names))
        number = {name: index for index, name in enumerate(order, 1)}
        parts = [self.segments[0]]
        for name, segment in zip(self.names, self.segments[1:], strict=True):
            parts.append(f"${number[name]}")
            parts.append(segment)
        return "".join(parts), order

    def bind(
        self, values: Mapping[str, str], mode: BindMode = "per-occurrence"
    ) -> tuple[str, list[str]]:
        """Return SQL with $1..$n and the values in order.

        "per-occurrence": each occurrence gets a bind of its own, as if the value were written
        there: PostgreSQL infers one type per bind, so one parameter may sit where different
        types are expected. "shared": a name used twice is bound once, so PostgreSQL must infer
        one type for all its occurrences (and fails with "inconsistent types deduced" when it
        cannot). How the Data API binds a repeated name is undocumented: the handler must work
        either way. A placeholder without a value stays as written and fails as a syntax error,
        as in Redshift.
        """
        if mode == "shared":
            return self._bind_shared(values)
        if len(self.names) > _MAX_BINDS:
            raise TooManyBindsError(len(self.names))
        try:
            return self._numbered, [values[name] for name in self.names]
        except KeyError:
            pass
        parts = [self.segments[0]]
        args: list[str] = []
        for name, segment in zip(self.names, self.segments[1:], strict=True):
            value = values.get(name)
            if value is None:
                parts.append(f":{name}")
            else:
                args.append(value)
                parts.append(f"${len(args)}")
            parts.append(segment)
        return "".join(parts), args

    def _bind_shared(self, values: Mapping[str, str]) -> tuple[str, list[str]]:
        sql, order = self._shared
        if len(order) > _MAX_BINDS:
            raise TooManyBindsError(len(order))
        if all(name in values for name in order):
            return sql, [values[name] for name in order]
        present = [name for name in order if name in values]
        number = {name: index for index, name in enumerate(present, 1)}
        parts = [self.segments[0]]
        for name, segment in zip(self.names, self.segments[1:], strict=True):
            parts.append(f"${number[name]}" if name in number else f":{name}")
            parts.append(segment)
        return "".join(parts), [values[name] for name in present]


class TooManyBindsError(ValueError):
    def __init__(self, count: int) -> None:
        super().__init__(f"ERROR: too many bind parameters ({count} > {_MAX_BINDS})")


def statement_keyword(sql: str) -> str:
    match = _FIRST_WORD.match(sql)
    return match.group(1).upper() if match else ""


def split_statements(sql: str) -> list[str]:
    """Cut at top-level semicolons; drop pieces that are only blanks and comments."""
    pieces: list[str] = []
    start = 0
    for match in _STATEMENT_ENDS.finditer(sql):
        if match.group("skip") is None:
            pieces.append(sql[start : match.start()])
            start = match.end()
    pieces.append(sql[start:])
    return [piece for piece in pieces if statement_keyword(piece)]


def _is_ddl(sql: str) -> bool:
    return statement_keyword(sql) in _DDL_KEYWORDS


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> Translation:
    """Translate one Data API SQL string (cached: the same statement shapes repeat)."""
    if _is_ddl(sql) or (";" in sql and any(_is_ddl(p) for p in split_statements(sql))):
        refused = next(
            (e for p in split_statements(sql) if _is_ddl(p) and (e := refused_ddl(p))), None
        )
        if refused is not None:
            return Translation((sql,), (), refused)
        sql = ";\n".join(
            translate_ddl(piece) if _is_ddl(piece) else piece for piece in split_statements(sql)
        )
    segments: list[str] = []
    names: list[str] = []
    start = 0
    for match in _PLACEHOLDERS.finditer(sql):
        name = match.group("name")
        if name is not None:
            segments.append(sql[start : match.start()])
            names.append(name)
            start = match.end()
    segments.append(sql[start:])
    return Translation(tuple(segments), tuple(names))


# Redshift's wording for PostgreSQL's errors, by SQLSTATE, where it is known to differ. The
# rest keep PostgreSQL's message, as Redshift (a PostgreSQL 8.0 descendant) mostly does:
#   22001 "value too long for type character varying(n)": the same words in Redshift (its
#         VARCHAR limit is checked in bytes; see redshift_ddl) - unverified against AWS docs.
#   22P02 "invalid input syntax for type numeric: ..." and 22007/22008 date/time errors: kept
#         as PostgreSQL words them - unverified.
#   42703 'column "x" of relation "t" does not exist' (an INSERT naming a column that is not,
#         or no longer, there) and 42804 'column "x" is of type boolean but expression is of
#         type integer': PostgreSQL's parser words, which Redshift's keeps - unverified.
#   22003 "smallint out of range", "integer out of range": as Redshift words them (Database
#         Developer Guide, "Examples with numeric types":
#         https://docs.aws.amazon.com/redshift/latest/dg/r_Examples_with_numeric_types201.html).
NUMERIC_OVERFLOW = "ERROR: Numeric data overflow (result precision)"  # user reports; unverified
# PostgreSQL 16 words an integer input out of range 'value "33000" is out of range for type
# smallint'; Redshift says "smallint out of range" (the page above), without the value.
_OUT_OF_RANGE = re.compile(r'value ".*" is out of range for type (smallint|integer|bigint)$', re.S)
# "ERROR: 1023 DETAIL: Serializable isolation violation on table" (Database Developer Guide,
# "Troubleshooting serializable isolation errors", https://docs.aws.amazon.com/redshift/latest/
# dg/c_serial_isolation-serializable-isolation-troubleshooting.html); the table id, the
# transactions and the pid that follow are as users report them (unverified).
SERIALIZATION_FAILURE = (
    "ERROR: 1023 DETAIL: Serializable isolation violation on table - {table}, "
    "transactions forming the cycle are: {xids} (pid:{pid})"
)
NOT_NULL_VIOLATION = "ERROR: Cannot insert a NULL value into column {column}"  # unverified
INVALID_JSON = "ERROR: JSON parsing error DETAIL: invalid JSON"  # see databases._SHIMS


def _redshift_wording(exc: psycopg.Error) -> str | None:
    diag = exc.diag
    state = diag.sqlstate or ""
    message = diag.message_primary or ""
    if state == "22003" and message.startswith("numeric field overflow"):
        return NUMERIC_OVERFLOW
    out_of_range = _OUT_OF_RANGE.match(message) if state == "22003" else None
    if out_of_range:
        return f"ERROR: {out_of_range.group(1)} out of range"
    if state == "40001":
        return SERIALIZATION_FAILURE.format(table=0, xids="0, 0", pid=0)
    if state == "23502" and diag.column_name:
        return NOT_NULL_VIOLATION.format(column=diag.column_name)
    if state == "22P02" and message.startswith("invalid input syntax for type json"):
        return INVALID_JSON
    return None


def error_text(exc: BaseException) -> str:
    """The Data API's `Error` for a failed statement, worded as Redshift words it."""
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        constraint = diag.constraint_name or ""
        byte_limit = BYTES_CHECK_NAME.match(constraint)
        if byte_limit:
            return f"ERROR: value too long for type character varying({byte_limit.group(1)})"
        reworded = _redshift_wording(exc)
        if reworded is not None:
            return reworded
        if isinstance(exc, psycopg.DataError) and diag.message_primary is None:
            # Raised by psycopg before sending, e.g. for NUL characters.
            return f"ERROR: {exc}"
        if diag.message_primary:
            return f"ERROR: {diag.message_primary}"
    text = str(exc).strip()
    return text if text.startswith("ERROR:") else f"ERROR: {text}"
