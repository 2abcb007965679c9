"""Redshift SQL -> PostgreSQL: named parameters to server-side binds, Redshift DDL to PostgreSQL."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from local.redshift_ddl import refused_ddl, translate_ddl

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
