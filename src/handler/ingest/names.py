"""Parameter names for the Data API: within one request none is a prefix of another.

How the service finds `:name` in the SQL is undocumented: if it matched the shortest name, `:a`
would also match inside `:a0`. Every name is one letter (which says what the parameter is for)
and three base-36 digits, so all names of every statement are the same length: a prefix-free
code whatever the tokeniser does, and never an SQL keyword.
"""

from __future__ import annotations

from itertools import islice, product

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_WIDTH = 3
NAMES_PER_LETTER = len(_DIGITS) ** _WIDTH  # 46,656: more than 32,767 parameters + 1,600 columns

INSERT_VALUE = "p"  # an INSERT's values (sql.py)
GUARD = "g"  # the column guard's expectations (column_guard.py)
RECORD_ID = "m"  # the presence look-up's record ids (presence.py)
WINDOW = "w"  # the presence look-up's sort-key window (presence.py)
PROBE = "k"  # the control statement's known-good values (probe.py)
CLAIM_WINDOW = "c"  # a claim's sort-key window (claim.py)
SAME_VALUE = "v"  # a redriven record's values, compared with the row held (same_record.py)


def parameter_name(number: int, letter: str = INSERT_VALUE) -> str:
    """`p000`, `p001`, ..., `pzzz`: `letter` and `number` in three base-36 digits."""
    if not 0 <= number < NAMES_PER_LETTER:
        raise ValueError(f"parameter number {number} is outside 0..{NAMES_PER_LETTER - 1}")
    digits = []
    for _ in range(_WIDTH):
        number, digit = divmod(number, len(_DIGITS))
        digits.append(_DIGITS[digit])
    return letter + "".join(reversed(digits))


def parameter_names(count: int, letter: str = INSERT_VALUE) -> tuple[str, ...]:
    """The first `count` names of `letter`, as `parameter_name` gives them one by one, built
    at C speed (itertools) for a table: a tenth of the time of `count` calls."""
    if not 0 <= count <= NAMES_PER_LETTER:
        raise ValueError(f"{count} parameter names asked for, {NAMES_PER_LETTER} exist")
    # product() varies its last argument fastest: the digits in base-36 counting order.
    return tuple(islice(map("".join, product(letter, *[_DIGITS] * _WIDTH)), count))
