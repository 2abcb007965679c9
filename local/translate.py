"""Redshift SQL -> PostgreSQL: named parameters to server-side binds, Redshift DDL to PostgreSQL."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Translation:
    """A statement in PostgreSQL, cut at each `:name` placeholder (segments = names + 1)."""

    segments: tuple[str, ...]
    names: tuple[str, ...]

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

    def bind(self, values: Mapping[str, str]) -> tuple[str, list[str]]:
        """Return SQL with $1..$n and the values in order.

        Each occurrence gets a bind of its own, as if the value were written there: PostgreSQL
        infers one type per bind, and one parameter may sit where different types are expected.
        A placeholder without a value stays as written and fails as a syntax error, as in Redshift.
        """
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


def _strip_redshift_attributes(sql: str) -> str:
    masked: list[str] = []

    def mask(match: re.Match[str]) -> str:
        masked.append(match.group(0))
        return f"\x00{len(masked) - 1}\x00"

    text = _LITERALS.sub(mask, sql)
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


def _rewrite_ddl(tree: exp.Expr) -> exp.Expr:
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


def error_text(exc: BaseException) -> str:
    """The Data API's `Error` for a failed statement, worded as Redshift words it."""
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        constraint = diag.constraint_name or ""
        byte_limit = _BYTES_CHECK_NAME.match(constraint)
        if byte_limit:
            return f"ERROR: value too long for type character varying({byte_limit.group(1)})"
        if isinstance(exc, psycopg.DataError) and diag.message_primary is None:
            # Raised by psycopg before sending, e.g. for NUL characters.
            return f"ERROR: {exc}"
        if diag.message_primary:
            return f"ERROR: {diag.message_primary}"
    text = str(exc).strip()
    return text if text.startswith("ERROR:") else f"ERROR: {text}"
