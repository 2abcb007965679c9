"""Redshift SQL -> PostgreSQL: named parameters to server-side binds, Redshift DDL to PostgreSQL."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import psycopg
import sqlglot
from sqlglot import exp

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
_LITERALS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/""", re.DOTALL)
_MASK = re.compile(r"\x00(\d+)\x00")
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)

# Redshift table and column attributes that PostgreSQL has no use for (data distribution,
# sort order, compression, backups). Applied with literals and quoted names masked out.
_REDSHIFT_ONLY = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(?:COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*\([^)]*\)",
        r"\bSORTKEY\s+AUTO\b",
        r"\bDISTKEY\s*\([^)]*\)",
        r"\bDISTSTYLE\s+\w+",
        r"\bBACKUP\s+(?:YES|NO)\b",
        r"\bENCODE\s+\w+",
        r"\b(?:DISTKEY|SORTKEY)\b",
    )
]

_DDL_KEYWORDS = ("CREATE", "ALTER")
_STRING_TYPES = {exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR, exp.DataType.Type.TEXT}
_DEFAULT_VARCHAR_BYTES = 256  # VARCHAR without a length, and TEXT, are VARCHAR(256) in Redshift
_MAX_VARCHAR_BYTES = 65535
# Names of the CHECK constraints that make VARCHAR(n) count bytes; errors are recognized by it.
_BYTES_CHECK = "rs_varchar_bytes_{size}_{column}"
_BYTES_CHECK_NAME = re.compile(r"^rs_varchar_bytes_(\d+)_")
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

    @property
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


# Redshift's CREATE TABLE and ALTER TABLE know NOT NULL, UNIQUE, PRIMARY KEY and REFERENCES,
# and no CHECK (Database Developer Guide, "CREATE TABLE" and "Table constraints",
# https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html: "Amazon Redshift
# does enforce NOT NULL column constraints", nothing else). So a CHECK is refused here rather
# than enforced as PostgreSQL would. The error's wording is unverified (no AWS page shows it).
_CHECK = re.compile(r"\bCHECK\b", re.IGNORECASE)
CHECK_REFUSED = "ERROR: CHECK constraints are not supported"


def _masked(sql: str) -> tuple[str, list[str]]:
    masked: list[str] = []

    def mask(match: re.Match[str]) -> str:
        masked.append(match.group(0))
        return f"\x00{len(masked) - 1}\x00"

    return _LITERALS.sub(mask, sql), masked


def refused_ddl(sql: str) -> str | None:
    """The error Redshift gives this DDL where PostgreSQL would accept it, or None."""
    text, _ = _masked(sql)
    return CHECK_REFUSED if _CHECK.search(text) else None


def _strip_redshift_attributes(sql: str) -> str:
    text, masked = _masked(sql)
    for pattern in _REDSHIFT_ONLY:
        text = pattern.sub("", text)
    return _MASK.sub(lambda m: masked[int(m.group(1))], text)


def _varchar_bytes(kind: exp.DataType) -> int:
    params = kind.expressions
    if not params:
        return _DEFAULT_VARCHAR_BYTES
    size = params[0].this
    if isinstance(size, exp.Literal) and not size.is_string:
        return int(size.this)
    return _MAX_VARCHAR_BYTES  # VARCHAR(MAX)


def _short_hash(name: str) -> str:
    # Unique per column and short: constraint names must be unique per table and fit in 63 bytes.
    return hashlib.blake2s(name.encode(), digest_size=5).hexdigest()


def _rewrite_column(column: exp.ColumnDef) -> None:
    kind = column.args.get("kind")
    if not isinstance(kind, exp.DataType):
        return
    if kind.this == exp.DataType.Type.SUPER:
        column.set("kind", exp.DataType.build("JSONB", dialect="postgres"))
    elif kind.this in _STRING_TYPES:
        size = _varchar_bytes(kind)
        column.set("kind", exp.DataType.build(f"VARCHAR({size})", dialect="postgres"))
        # Redshift counts bytes, PostgreSQL characters: VARCHAR(n) keeps the character limit
        # (never the tighter one) and the CHECK adds the byte limit.
        check = exp.ColumnConstraint(
            this=exp.to_identifier(_BYTES_CHECK.format(size=size, column=_short_hash(column.name))),
            kind=exp.CheckColumnConstraint(
                this=exp.LTE(
                    this=exp.func("octet_length", column.this.copy()),
                    expression=exp.Literal.number(size),
                )
            ),
        )
        column.append("constraints", check)


# "Uniqueness, primary key, and foreign key constraints are informational only; they are not
# enforced by Amazon Redshift" (Database Developer Guide, "Table constraints",
# https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html). PostgreSQL would
# enforce them, so they are dropped: a duplicate row lands locally as it would on Redshift.
_INFORMATIONAL = (
    exp.PrimaryKeyColumnConstraint,
    exp.UniqueColumnConstraint,
    exp.Reference,
    exp.PrimaryKey,
    exp.ForeignKey,
)


def _is_informational(node: exp.Expr) -> bool:
    if isinstance(node, exp.ColumnConstraint):
        return isinstance(node.args.get("kind"), _INFORMATIONAL)
    if isinstance(node, exp.Constraint):
        return bool(node.expressions) and all(_is_informational(e) for e in node.expressions)
    return isinstance(node, _INFORMATIONAL)


def _drop_informational_constraints(tree: exp.Expr) -> None:
    for node in list(tree.find_all(exp.ColumnConstraint, exp.Constraint, *_INFORMATIONAL)):
        if node.parent is not None and _is_informational(node):
            node.pop()


def _rewrite_ddl(tree: exp.Expr) -> exp.Expr:
    if isinstance(tree, exp.Create):
        _drop_informational_constraints(tree)
    for column in tree.find_all(exp.ColumnDef):
        _rewrite_column(column)
    for node in tree.find_all(exp.DataType):
        if node.this == exp.DataType.Type.SUPER:
            node.replace(exp.DataType.build("JSONB", dialect="postgres"))
    # sqlglot would print placeholders as %(name)s; keep Redshift's form for the binder.
    for placeholder in list(tree.find_all(exp.Placeholder)):
        if placeholder.name:
            placeholder.replace(exp.var(f":{placeholder.name}"))
    return tree


def translate_ddl(sql: str) -> str:
    """CREATE/ALTER in Redshift's dialect -> PostgreSQL (byte-counted VARCHAR, SUPER as JSONB)."""
    stripped = _strip_redshift_attributes(sql)
    try:
        trees = [tree for tree in sqlglot.parse(stripped, read="redshift") if tree is not None]
        if any(isinstance(tree, exp.Command) for tree in trees):
            return stripped  # sqlglot gave up on the syntax: let PostgreSQL judge it as written
        return ";\n".join(_rewrite_ddl(tree).sql(dialect="postgres") for tree in trees)
    except (sqlglot.errors.SqlglotError, ValueError):
        return stripped


# Redshift's wording for PostgreSQL's errors, by SQLSTATE, where it is known to differ. The
# rest keep PostgreSQL's message, as Redshift (a PostgreSQL 8.0 descendant) mostly does:
#   22001 "value too long for type character varying(n)": the same words in Redshift (its
#         VARCHAR limit is checked in bytes; see _BYTES_CHECK) - unverified against AWS docs.
#   22P02 "invalid input syntax for type numeric: ..." and 22007/22008 date/time errors: kept
#         as PostgreSQL words them - unverified.
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
        byte_limit = _BYTES_CHECK_NAME.match(constraint)
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
