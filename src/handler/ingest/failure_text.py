"""What a FAILED statement's Error means for its rows, read the way Redshift writes it.

Redshift's Error is a first line (`ERROR: <message>`), often followed by a DETAIL block of
`name: value` lines (`error:`, `code:`, `context:`, `query:`, `location:`, `process:`), or, for
a few errors, `ERROR: <code> DETAIL: <message>` on one line. The verdict comes from two places
only: the DETAIL block's `code:` line (or the code that opens the message), and the words the
first line opens with. Never from a number or phrase found elsewhere: query ids, pids, table
ids and values (quoted or not) appear anywhere in the text.

Every rule names its public source (tests/data/redshift_error_corpus.json holds the texts, each
with where it was found) or says "unverified". A text no rule knows is UNKNOWN: the writer
bisects it within its budget and convicts a row only on evidence (writer.py), and a record
that keeps failing is dead-lettered by the function on its last receive (settle.py), so an
unrecognised wording can never strand a batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    DATA = "data"  # a value the table cannot take: bisect to find its row
    TRANSIENT = "transient"  # nothing committed, and the same rows may succeed again
    # The connection failed around the statement: its COMMIT may have taken effect, so the
    # target is asked which rows it holds before any is sent again.
    COMMIT_UNKNOWN = "commit_unknown"
    CONFIGURATION = "configuration"  # the target's (table, permissions, SQL): no row's fault
    UNKNOWN = "unknown"  # no rule knows the text: bisected, convicted only on evidence


@dataclass(frozen=True)
class Verdict:
    kind: FailureKind
    rule: str  # which rule decided: logged, and printed by `make preflight`
    code: int | None = None  # the DETAIL block's `code:`, when there is one


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: FailureKind
    opens_with: re.Pattern[str]  # matched at the start of the message (after "ERROR:")


def _opens(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?:" + "|".join(alternatives) + r")", re.IGNORECASE)


# Redshift's internal error codes, as its DETAIL block's `code:` line gives them, that decide
# on their own. Meanings: the load error reference (STL_LOAD_ERRORS, "Load error reference",
# https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html), whose codes
# INSERT's DETAIL blocks share, and the corpus entries named beside each. Left out on purpose:
# 8001, which the reference defines for COPY's MANIFEST but which the corpus shows for a value
# too long, a non-ASCII CHAR, SUPER input and a missing S3 prefix alike (the words decide),
# and 8007, for which no public source exists.
_CODES: dict[int, tuple[str, FailureKind]] = {
    # "Assert" (corpus assert-1000-copy-analyze).
    1000: ("assert", FailureKind.TRANSIENT),
    # "Disk Full", context "node: 0" (corpus disk-full-1016-jdbc).
    1016: ("disk full", FailureKind.TRANSIENT),
    # "abort query", context "system requested abort" (corpus abort-query-1020-...).
    1020: ("system requested abort", FailureKind.TRANSIENT),
    # "1023" as the whole message, "Serializable isolation violation on table - ..." as its
    # DETAIL (Database Developer Guide, "Troubleshooting serializable isolation errors";
    # corpus serializable-1023-*).
    1023: ("serializable isolation violation", FailureKind.TRANSIENT),
    # "Numeric data overflow (result precision|addition)", "Integer data overflow
    # (multiplication)" (corpus numeric-overflow-*-1058-*, integer-overflow-multiplication-1058).
    1058: ("numeric or integer overflow", FailureKind.DATA),
    # The load error reference's data errors (1200-1224); 1207 is also what an INSERT's
    # cast reports, for "Invalid digit" and for "Overflow (Integer valid range ...)" (corpus
    # invalid-digit-integer-1207-*, integer-overflow-int4-1207-dbt).
    1200: ("unknown parse error", FailureKind.DATA),
    1201: ("field delimiter not found", FailureKind.DATA),
    1202: ("more columns than the DDL", FailureKind.DATA),
    1203: ("fewer columns than the DDL", FailureKind.DATA),
    1204: ("value outside the data type's range", FailureKind.DATA),
    1205: ("date format not valid", FailureKind.DATA),
    1206: ("timestamp format not valid", FailureKind.DATA),
    1207: ("invalid digit or integer overflow", FailureKind.DATA),
    1208: ("FLOAT format error", FailureKind.DATA),
    1209: ("DECIMAL format error", FailureKind.DATA),
    1210: ("BOOLEAN format error", FailureKind.DATA),
    1211: ("input line contained no data", FailureKind.DATA),
    1213: ("NOT NULL field contained no data", FailureKind.DATA),
    1215: ("CHAR field error", FailureKind.DATA),
    1216: ("input line not valid", FailureKind.DATA),
    1217: ("identity column value not valid", FailureKind.DATA),
    1218: ("NUL terminator longer than one byte", FailureKind.DATA),
    1219: ("UTF-8 hexadecimal with an invalid digit", FailureKind.DATA),
    1220: ("invalid or unsupported UTF-8 code points", FailureKind.DATA),
    1222: ("integer value overflow", FailureKind.DATA),
    1223: ("data type not valid", FailureKind.DATA),
    1224: ("malformed JSON or SUPER input", FailureKind.DATA),
}

# First-line rules, in the order they are tried. Sources: corpus entry ids (see the fixture).
_RULES: tuple[_Rule, ...] = (
    # -- the connection around the statement failed: the commit may have taken effect --------
    _Rule(
        "connection lost",
        FailureKind.COMMIT_UNKNOWN,
        # libpq's words when the server side of a session goes away (corpus connection-*):
        # "server closed the connection unexpectedly", "SSL SYSCALL error: EOF detected",
        # "terminating connection due to administrator command", "could not receive data
        # from server", "SSL connection has been closed unexpectedly", "connection reset".
        _opens(
            r"server closed the connection unexpectedly",
            r"ssl syscall error",
            r"ssl error",
            r"ssl connection has been closed unexpectedly",
            r"terminating connection",
            r"could not (?:receive|send) data (?:from|to) (?:server|client)",
            r"connection (?:reset|to server was lost|timed out)",
            r"lost connection",
            r"the connection was closed",
            # redshift_connector's words (corpus connection-brokenpipe-*, -communication-error)
            r"brokenpipe|broken pipe",
            r"server socket closed",
            r"\(?communication error",
        ),
    ),
    _Rule(
        "environmental error",
        FailureKind.COMMIT_UNKNOWN,
        # ExecuteStatementException's and BatchExecuteStatementException's own message ("The
        # SQL statement encountered an environmental error while running": their shapes'
        # description in botocore's redshift-data model): nothing says whether it committed.
        _opens(r"(?:the|an) sql statement encountered an environmental error"),
    ),
    _Rule(
        "no connection made",
        FailureKind.TRANSIENT,
        # libpq's words when no session could be opened (PostgreSQL's; unverified for the Data
        # API): the statement never ran.
        _opens(r"could not connect to server", r"connection refused"),
    ),
    # -- a value of the rows ----------------------------------------------------------------
    _Rule(
        "value too long",
        FailureKind.DATA,
        # Redshift (corpus value-too-long-*); PostgreSQL's "value too long for type
        # character varying(n)" shares the opening words.
        _opens(r"value too long for"),
    ),
    _Rule(
        "string length exceeds DDL length",
        FailureKind.DATA,
        # COPY's wording of the same (corpus value-too-long-copy-string-length-exceeds-ddl).
        _opens(r"string length exceeds ddl length"),
    ),
    _Rule(
        "statement too large",
        FailureKind.DATA,
        # "Statement is too large. Statement Size: N bytes. Maximum Allowed: 16777216 bytes"
        # (corpus statement-too-large): smaller statements pass, so it is bisected like a
        # value; a single row can never reach 16 MB within STATEMENT_MAX_BYTES.
        _opens(r"statement is too large"),
    ),
    _Rule(
        "integer overflow",
        FailureKind.DATA,
        # "Overflow (Integer valid range -2147483648 to 2147483647)", "Overflow (Long valid
        # range ...)" (corpus integer-overflow-int4-1207-dbt, -int8-long; "Short" for SMALLINT
        # is unverified); "smallint out of range" (Database Developer Guide, "Examples with
        # numeric types"; corpus integer-overflow-smallint-docs); "Integer data overflow
        # (multiplication)" (corpus integer-overflow-multiplication-1058); "Value out of range
        # for 8 bytes" (unverified).
        _opens(
            r"overflow \((?:short|integer|long|int2|int4|int8) valid range",
            r"(?:smallint|integer|bigint) out of range",
            r"integer data overflow",
            r"value out of range for \d+ bytes",
        ),
    ),
    _Rule(
        "numeric overflow",
        FailureKind.DATA,
        # "Numeric data overflow (result precision)" (corpus numeric-overflow-*); "numeric
        # field overflow" (Database Developer Guide; corpus numeric-field-overflow-docs-...).
        _opens(r"numeric data overflow", r"numeric field overflow", r"overflow for numeric"),
    ),
    _Rule(
        "float out of range",
        FailureKind.DATA,
        # PostgreSQL's '"1e400" is out of range for type double precision', which opens with
        # the value (stripped with the quotes). Unverified for Redshift: the only public
        # source says an INSERT stores such values as +-infinity instead (the reader refuses
        # non-finite numbers before they are sent).
        _opens(
            r"is out of range for type (?:double precision|real|float[48]?)",
            r"value out of range",
        ),
    ),
    _Rule(
        "invalid input",
        FailureKind.DATA,
        # "Invalid digit, Value '.', Pos 1, Type: Integer" (code 1207; corpus
        # invalid-digit-*), 'invalid input syntax for type numeric: ""' (corpus
        # invalid-input-syntax-numeric-redshift-connector), "Invalid timestamp format or
        # value", "Invalid Date Format", "Multibyte character not supported for CHAR",
        # "String contains invalid or unsupported UTF-8 codepoints", "Invalid characters:"
        # (corpus invalid-*), 'date out of range: "..."', "Overflow or underflow for
        # DATEPART/EXTRACT" (corpus date-out-of-range-*, extract-epoch-overflow); the time
        # zone displacement words are PostgreSQL's (unverified for Redshift).
        _opens(
            r"invalid digit",
            r"invalid input syntax for",
            r"invalid (?:timestamp|date|time|timestamptz) format",
            r"invalid (?:boolean|numeric|decimal|float|integer)",
            r"invalid byte sequence",
            r"invalid utf-?8",
            r"invalid character",
            r"character with byte sequence",
            r"date/time field value out of range",
            r"(?:timestamp|date|time zone displacement) out of range",
            r"time zone (?:displacement )?out of range",
            r"invalid data",
            r"invalid input\b",
            r"multibyte character",
            r"string contains invalid",
            r"char string contains invalid",
            r"overflow or underflow for",
        ),
    ),
    _Rule(
        "JSON parsing",
        FailureKind.DATA,
        # "JSON parsing error" (Database Developer Guide, JSON functions; corpus
        # json-parsing-error-docs); "Format with multiple values without array or object"
        # (code 1224; corpus super-copy-1224-multiple-values). No public text of a JSON_PARSE
        # refusal exists: "invalid json" and "duplicate key" are unverified.
        _opens(
            r"json parsing error",
            r"invalid json",
            r"json_parse",
            r"duplicate key",
            r"format with multiple values",
        ),
    ),
    _Rule(
        "NULL into NOT NULL",
        FailureKind.DATA,
        # "Cannot insert a NULL value into column x" (dbt-redshift's and Trino's tests expect
        # these words; no full text exists: corpus not-null-dbt-redshift-test, unverified);
        # PostgreSQL's 'null value in column "x" violates not-null constraint' (unverified).
        _opens(r"cannot insert a null value into", r"null value in column"),
    ),
    # -- nothing committed; the same rows may pass next time --------------------------------
    _Rule(
        "serializable isolation",
        FailureKind.TRANSIENT,
        # The DETAIL's words when the message itself is not "1023" (corpus serializable-*);
        # snapshot isolation's "could not complete because of conflict with concurrent
        # transaction" (corpus snapshot-isolation-conflict-jdbc2).
        _opens(r"serializable isolation violation", r"could not complete because of conflict"),
    ),
    _Rule(
        "cancelled",
        FailureKind.TRANSIENT,
        # "Query (15291261) cancelled on user's request" (two l's as clusters say it, one in
        # the docs; corpus cancelled-*), also what statement_timeout gives; WLM's "canceled
        # by WLM abort action" (unverified paraphrase); "abort query" (code 1020; corpus
        # abort-query-1020-system-requested); PostgreSQL's "canceling statement due to ...".
        _opens(
            r"query \(\d+\) cancell?ed",
            r"cancell?ed (?:on user|by wlm)",
            r"cancell?ing statement",
            r"query cancell?ed",
            r"abort query",
        ),
    ),
    _Rule(
        "out of resources",
        FailureKind.TRANSIENT,
        # "Disk Full" (code 1016; corpus disk-full-1016-jdbc); "out of memory", "deadlock
        # detected" (PostgreSQL's words, unverified for Redshift).
        _opens(
            r"disk full",
            r"out of memory",
            r"deadlock detected",
            r"could not serialize access",
            r"too many connections",
            r"the cluster is (?:being|currently)",
        ),
    ),
    _Rule(
        "internal error",
        FailureKind.TRANSIENT,
        # Redshift's asserts open "Assert" (code 1000; corpus assert-1000-copy-analyze);
        # "XX000" and the rest are unverified.
        _opens(r"assert\b", r"xx000\b", r"internal error", r"unexpected error"),
    ),
    # -- the target's fault: no row is to blame --------------------------------------------
    _Rule(
        "missing object",
        FailureKind.CONFIGURATION,
        # 'relation "test_table" does not exist' (a Data API Error: AWS Knowledge Center;
        # corpus relation-missing-data-api-kc); the same shape for columns, schemas and
        # functions (PostgreSQL's words, unverified); "table 6616765 dropped by concurrent
        # transaction" (corpus table-dropped-by-concurrent-transaction). Quoted names are
        # stripped before matching.
        _opens(
            r"(?:relation|column|schema|function|database|table|type)\b.*does not exist",
            r"table \d+ dropped by concurrent transaction",
        ),
    ),
    _Rule(
        "permission",
        FailureKind.CONFIGURATION,
        # "permission denied for relation x", "permission denied for schema" (corpus
        # permission-denied-*); "must be owner", "not authorized" unverified.
        _opens(r"permission denied", r"must be owner", r"not authorized"),
    ),
    _Rule(
        "statement shape",
        FailureKind.CONFIGURATION,
        # The SQL itself: 'syntax error at or near "CASE"' (a Data API Error; corpus
        # data-api-syntax-error-position), or a column whose type no longer matches what the
        # function casts to ('column "c" is of type ... but expression is of type ...',
        # PostgreSQL's words, unverified).
        _opens(
            r"syntax error",
            r"column\b.*\bis of type\b",
            r"cannot cast type",
            r"operator does not exist",
            r"insert has more",
        ),
    ),
)

_ERROR_PREFIX = re.compile(r"^\s*(?:ERROR|FATAL|PANIC)\s*:\s*", re.IGNORECASE)
# "1023 DETAIL: Serializable isolation violation ...": the code opens the message.
_CODE_THEN_DETAIL = re.compile(
    r"^(\d{1,5})\s*(?:DETAILS?\s*:\s*|\(SQLSTATE \w+\)|$)", re.IGNORECASE
)
_DETAIL_START = re.compile(r"\bDETAILS?\s*:", re.IGNORECASE)
_CODE_LINE = re.compile(r"^\s*code\s*:\s*(\d{1,5})\s*$", re.IGNORECASE | re.MULTILINE)
_ERROR_LINE = re.compile(r"^\s*error\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
# Quoted text is a value (or an identifier): it must never decide what an error means.
QUOTED = re.compile(r"\"[^\"]*\"?|'[^']*'?|`[^`]*`?|[\u201c\u201e\u00ab][^\u201d\u201c\u00bb]*")


def read_failure(error_text: str) -> Verdict:
    """The verdict on a FAILED statement's Error, and the rule that gave it."""
    first_line, _, rest = error_text.strip().partition("\n")
    message = _ERROR_PREFIX.sub("", first_line, count=1)
    opening_code = _CODE_THEN_DETAIL.match(message)
    code: int | None = None
    if opening_code is not None:
        code = int(opening_code.group(1))
        message = message[opening_code.end() :]
    else:
        # Whatever follows an inline DETAIL: is not the message.
        message = _DETAIL_START.split(message, maxsplit=1)[0]
        # The DETAIL block's code, only from its own line of the block.
        detail = _DETAIL_START.split(error_text, maxsplit=1)
        if len(detail) == 2:
            code = _block_code(detail[1])
    by_code = _CODES.get(code) if code is not None else None
    if by_code is not None:
        return Verdict(by_code[1], f"code {code}: {by_code[0]}", code)
    verdict = _by_words(message, code)
    if verdict is None and rest:
        # Some clients put the message on the DETAIL block's `error:` line only.
        line = _ERROR_LINE.search(rest)
        verdict = _by_words(line.group(1), code) if line else None
    return verdict or Verdict(FailureKind.UNKNOWN, "no rule knows this text", code)


def _block_code(block: str) -> int | None:
    """The code of a DETAIL block: its one `code:` line. A block with two (a value echoed on
    the `error:` or `context:` line, with a newline and "code: 1023" in it, adds one) has no
    code the function trusts: the first line's words decide."""
    found = _CODE_LINE.findall(block)
    return int(found[0]) if len(found) == 1 else None


def _by_words(message: str, code: int | None) -> Verdict | None:
    text = QUOTED.sub("", message).strip()
    for rule in _RULES:
        if rule.opens_with.match(text):
            return Verdict(rule.kind, rule.name, code)
    return None


def classify_failure(error_text: str) -> FailureKind:
    """The kind of a FAILED statement's Error (see read_failure)."""
    return read_failure(error_text).kind
