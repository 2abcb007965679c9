"""JSON that keeps every number's spelling and refuses what Redshift's JSON_PARSE refuses."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from json.encoder import encode_basestring  # the C-accelerated string writer
from typing import Any

from ingest.limits import SUPER_MAX_DEPTH, SUPER_MAX_STRING_BYTES


class JsonNumber(str):
    """A JSON number kept as the text that was sent: `19.90` stays `19.90`, never a float."""

    __slots__ = ()


class DuplicateKeyError(ValueError):
    """An object names a key twice: which value was meant is ambiguous (JSON_PARSE refuses it)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        raise DuplicateKeyError("an object has a duplicate key")
    return decoded


def _decoder(**object_hooks: Any) -> json.JSONDecoder:
    """A decoder built once (json.loads with keyword arguments would build one each call):
    numbers become JsonNumber text and NaN/Infinity are refused; objects as the hooks say."""
    return json.JSONDecoder(
        parse_float=JsonNumber,
        parse_int=JsonNumber,
        parse_constant=_reject_constant,
        **object_hooks,
    )


# Every object checked: duplicate keys are refused.
_DECODER = _decoder(object_pairs_hook=_object_without_duplicates)


def loads(text: str) -> Any:
    """Decode strict JSON; raises ValueError (DuplicateKeyError included) or RecursionError."""
    return _with_room_for_super_depth(_DECODER.decode, text)


_objects = threading.local()


def _counted(decoded: dict[str, Any]) -> dict[str, Any]:
    _objects.count += 1
    return decoded


# Objects built by C: duplicate keys collapse (the last wins) but objects are counted.
_RECORD_DECODER = _decoder(object_hook=_counted)


def _object_noting_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        _objects.with_duplicates.append(decoded)
    return decoded


_NESTED_CHECK_DECODER = _decoder(object_pairs_hook=_object_noting_duplicates)


def loads_record(text: str) -> Any:
    """Decode a message body. Keys repeated in any object *inside* it are refused, as loads()
    refuses them (those objects can only end in SUPER or text columns, where a duplicate would
    make Redshift refuse the row or the stored text differ from what was sent); a key repeated
    at the top level is read as JSON.parse and Python read it, the last value winning. The top
    level is where nearly every key is, so this spares the cost of checking each one (about 3
    us a body, 13% of json.loads) in the function's hottest call."""
    _objects.count = 0
    decoded = _with_room_for_super_depth(_RECORD_DECODER.decode, text)
    if _objects.count == 1:
        return decoded
    # Nested objects: decode again, noting each object with a repeated key; only nested ones
    # are refused, so the top level reads the same with or without them.
    _objects.with_duplicates = []
    checked = _with_room_for_super_depth(_NESTED_CHECK_DECODER.decode, text)
    if any(found is not checked for found in _objects.with_duplicates):
        raise DuplicateKeyError("a nested object has a duplicate key")
    return checked


def dumps(value: Any) -> str:
    """Compact JSON in which every JsonNumber is written exactly as it was read."""
    parts: list[str] = []
    _with_room_for_super_depth(lambda v: _dump(v, parts.append), value)
    return "".join(parts)


# Enough frames for SUPER's 1,000 levels on top of whatever stack the caller already uses.
_ROOM = 2 * SUPER_MAX_DEPTH + 500


def _with_room_for_super_depth(work: Callable[[Any], Any], argument: Any) -> Any:
    # A value Redshift accepts (1,000 levels) must not fail for the interpreter's recursion
    # limit (1,000 frames, the caller's stack included). On the runtime (3.13) the JSON scanner
    # counts C frames apart from it, but _dump recurses in Python: writing back a value nested
    # ~900 levels deep from the handler's stack fails without this (a recursive _dump is twice
    # as fast as an explicit stack on the flat objects nearly every record holds). On 3.11 the
    # scanner counts against the same limit, so decoding needs it too. The limit is raised
    # once, only when a value needs it, and never lowered (other threads).
    try:
        return work(argument)
    except RecursionError:
        if sys.getrecursionlimit() >= _ROOM + 1000:
            raise
        sys.setrecursionlimit(_ROOM + 1000)
        return work(argument)


def _dump(value: Any, out: Any) -> None:
    # Order of checks: JsonNumber before str (it is one), bool before anything numeric.
    if type(value) is JsonNumber:
        out(str.__str__(value))
    elif isinstance(value, str):
        out(encode_basestring(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, dict):
        out("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out(",")
            out(encode_basestring(key))
            out(":")
            _dump(item, out)
        out("}")
    elif isinstance(value, list):
        out("[")
        for position, item in enumerate(value):
            if position:
                out(",")
            _dump(item, out)
        out("]")
    else:  # only what loads() produces reaches here; anything else is a programming error
        raise TypeError(f"cannot write {type(value).__name__} as exact JSON")


def super_problem(value: Any) -> str | None:
    """Why Redshift would refuse `value` in a SUPER column, or None. Never quotes a value."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):  # JsonNumber included: its text is ASCII digits and signs
            problem = _string_problem(item)
            if problem:
                return problem
        elif isinstance(item, dict | list):
            if depth > SUPER_MAX_DEPTH:
                return f"nested more than {SUPER_MAX_DEPTH} levels deep"
            if isinstance(item, dict):
                for key, member in item.items():
                    problem = _string_problem(key)
                    if problem:
                        return problem
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in item)
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return "contains text that is not valid UTF-8 (a lone surrogate)"
    if size > SUPER_MAX_STRING_BYTES:
        return f"holds a {size}-byte string; SUPER strings hold at most {SUPER_MAX_STRING_BYTES}"
    return None
