"""What the preflight sends: records read into rows by the function's own reader, and raw rows
for the refusals (values the reader would refuse, put straight into a Row).

The values are preflight's own (fixed samples and random hex): nothing personal. They are never
printed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence

from ingest.layout import TableLayout
from ingest.records import Decoded, Rejection, Row, SqlValue, SqsMessage, decode
from ingest.row_reader import RowReader

# A record through every column kind, as a sender would write it: numbers as JSON numbers (the
# reader keeps their literals), a SUPER as nested JSON, fields without a column for the
# overflow column, quotes, a backslash and control characters that JSON escapes in the request.
# Written as JSON text, not built from Python floats: the digits are the point.
EVERY_KIND_BODY = (
    "{"
    '"c_varchar": "na\\u00efve \\u2713", '
    '"c_text": "O\'Brien said \\"hi\\";\\n\\ta \\\\ back\\\\slash -- /* not SQL */", '
    '"c_char": "ABCD", '
    '"c_smallint": -32768, '
    '"c_integer": 2147483647, '
    '"c_bigint": -9223372036854775808, '
    '"c_decimal": -123456789012.123456, '
    '"c_real": 0.375, '
    '"c_double": 12345.125, '
    '"c_boolean": true, '
    '"c_date": "2024-02-29", '
    '"c_timestamp": "2024-02-29 23:59:59.123456", '
    '"c_timestamptz": "2024-02-29 23:59:59.123456+05:30", '
    '"c_super": {"n": 123456789, "f": 1.5, "s": "\\u00e9 \\u2713", "a": [1, true, null], '
    '"o": {"k": "v"}}, '
    '"required_text": "required", '
    '"with_default": 42, '
    '"guarded": "12", '
    '"not_a_column": "kept in the overflow column", '
    '"another": 3'
    "}"
)

# Short values for every column but the message id and required_text: the INSERT's text, not its
# values, fills the statement budget (the Data API's 100 KB limit is on the query string).
SHORT_BODY: dict[str, object] = {
    "c_varchar": "v",
    "c_text": "t",
    "c_char": "C",
    "c_smallint": 1,
    "c_integer": 2,
    "c_bigint": 3,
    "c_decimal": 4.5,
    "c_real": 0.5,
    "c_double": 6.25,
    "c_boolean": False,
    "c_date": "2024-01-02",
    "c_timestamp": "2024-01-02 03:04:05",
    "c_timestamptz": "2024-01-02 03:04:05+00:00",
    "c_super": {"a": 1},
    "guarded": "g",
    "with_default": 8,
}


class ReaderRefused(Exception):
    """The function's reader refused a record preflight meant as valid: the detail names the
    column and the rule, never the value (ingest/records.py Rejection)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"the reader refused it: {rejection.reason.value} ({rejection.detail})")
        self.rejection = rejection


def message_id(run: str, check: str, n: int) -> str:
    """`<run>-<check>-<n>`: one check's rows found again by LIKE '<run>-<check>-%'."""
    return f"{run}-{check}-{n:05d}"


def decoded(record_id: str, body: str) -> Decoded | Rejection:
    return decode(SqsMessage(message_id=record_id, body=body, receive_count=1))


def read_row(reader: RowReader, record_id: str, body: str) -> Row:
    """A record through the function's decode and RowReader, as the handler reads one."""
    result = decoded(record_id, body)
    row = result if isinstance(result, Rejection) else reader.read(result)
    if isinstance(row, Rejection):
        raise ReaderRefused(row)
    return row


def read_rows(
    reader: RowReader, run: str, check: str, bodies: Sequence[Mapping[str, object]]
) -> list[Row]:
    return [
        read_row(reader, message_id(run, check, n), json.dumps(body))
        for n, body in enumerate(bodies)
    ]


def filler(size: int) -> str:
    """`size` characters of random hex (ASCII: bytes == characters)."""
    return secrets.token_hex((size + 1) // 2)[:size]


def with_value(layout: TableLayout, row: Row, column: str, value: SqlValue) -> Row:
    """The row with `value` in `column` as is, past the reader's checks (a refusal on purpose);
    the column is carried, so None renders as the NULL constant."""
    index = next(i for i, c in enumerate(layout.columns) if c.name == column)
    values = list(row.values)
    values[index] = value
    present = tuple(sorted({*row.present, index}))
    return row._replace(values=tuple(values), present=present)
