"""A target table's columns -> what the function writes there and how payload fields find them.

Built once per table schema (and again when the table changes): the per-record hot path in
records.py and sql.py only indexes the tuples and dictionaries prepared here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ingest.config import Roles
from ingest.schema import Column, ColumnKind, TableSchema

SQS_MESSAGE_ID_LENGTH = 36  # a UUID, as SQS writes message ids


class SchemaError(ValueError):
    """The target table cannot be written as configured; the message names the table, the
    column, its type and the setting involved, never a value."""


@dataclass(frozen=True)
class TableLayout:
    """What one table takes: the written columns (table order) and the roles among them."""

    schema: TableSchema
    columns: tuple[Column, ...]  # every column a row may fill, in table order
    message_id_index: int
    overflow_index: int | None
    local_time: tuple[bool, ...]  # per column: TIMESTAMP keeping a sent offset's wall clock
    # Payload field -> column index: each column's own name, or the one-segment path mapped
    # to it. `folded` holds the same keys lower-cased, for fields sent in another case.
    field_index: dict[str, int]
    folded_index: dict[str, int]
    # FIELD_MAPPING: (path, column index, the column's own name when it is still a source).
    mapped: tuple[tuple[tuple[str, ...], int, str | None], ...]
    required: tuple[int, ...]  # NOT NULL without a default, filled from the payload
    # Filled from the payload and identifying a record beside its message id (required text
    # columns): a redrive naming another record's id is told apart by them (presence.py).
    identity: tuple[int, ...]
    sort_key_index: int | None  # a TIMESTAMP column bounding presence look-ups
    has_default: tuple[bool, ...]  # per column: an absent value takes DEFAULT, not NULL
    skipped: tuple[Column, ...]  # nullable columns of a type the function cannot write
    unmapped: tuple[str, ...]  # FIELD_MAPPING columns this table lacks (ignored here)

    @property
    def table(self) -> str:
        return self.schema.table


def build_layout(schema: TableSchema, roles: Roles, target: str) -> TableLayout:
    """The layout of `schema` for `roles`; SchemaError when the table cannot take rows."""
    where = f"table {schema.table} in target {target}"
    if not schema.columns:
        raise SchemaError(
            f"{where} has no columns the function can see: check TARGET_TABLE and that the "
            "database user may read it"
        )
    _check_roles(schema, roles, where)
    left_out = set(roles.default_columns)
    written: list[Column] = []
    skipped: list[Column] = []
    for column in schema.columns:
        if column.name in left_out:
            continue
        if column.kind is ColumnKind.UNSUPPORTED:
            if column.required:
                raise SchemaError(
                    f"{where}: column {column.name} has type {column.type_text}, which the "
                    "function cannot write, and is NOT NULL without a default"
                )
            skipped.append(column)
            continue
        written.append(column)
    index_of = {column.name: i for i, column in enumerate(written)}
    pipeline = {roles.message_id_column, roles.overflow_column}
    # Each column answers to its own name; a FIELD_MAPPING path then takes precedence, also
    # over another column's own name ({"city": "region"} sends "city" to region whatever the
    # order of the table's columns).
    field_index = {c.name: i for i, c in enumerate(written) if c.name not in pipeline}
    sources: list[tuple[tuple[str, ...], int]] = []
    for path, name in roles.field_mapping:
        index = index_of.get(name)
        if index is None or name in pipeline:
            continue
        sources.append((path, index))
        if len(path) == 1:
            field_index[path[0]] = index
    # A mapped column's own name stays its second source, unless the mapping gave that name to
    # another column: the path wins when a record carries both, and the other value is kept in
    # the overflow column.
    mapped = tuple(
        (path, index, own if field_index.get(own) == index else None)
        for path, index in sources
        for own in [written[index].name]
    )
    # Redshift folds unquoted identifiers to lower case, so a field sent as "Country_Code"
    # means column country_code; looked up only when the exact key has no column.
    folded_index = {key.lower(): i for key, i in field_index.items()}
    filled_by_us = {index_of[name] for name in pipeline if name in index_of}
    required = tuple(i for i, c in enumerate(written) if c.required and i not in filled_by_us)
    sort_key = roles.sort_key_column
    sort_key_index = index_of.get(sort_key) if sort_key is not None else None
    if sort_key_index is not None and written[sort_key_index].kind is not ColumnKind.TIMESTAMP:
        sort_key_index = None  # the look-up window is a TIMESTAMP range
    return TableLayout(
        schema=schema,
        columns=tuple(written),
        message_id_index=index_of[roles.message_id_column],
        overflow_index=(
            index_of.get(roles.overflow_column) if roles.overflow_column is not None else None
        ),
        local_time=tuple(
            c.kind is ColumnKind.TIMESTAMP
            and any(fnmatch.fnmatchcase(c.name, p) for p in roles.local_time_patterns)
            for c in written
        ),
        field_index=field_index,
        folded_index=folded_index,
        mapped=mapped,
        required=required,
        # VARCHAR only: CHAR values come back blank-padded and would never compare equal.
        identity=tuple(i for i in required if written[i].kind is ColumnKind.VARCHAR),
        sort_key_index=sort_key_index,
        has_default=tuple(c.has_default for c in written),
        skipped=tuple(skipped),
        unmapped=tuple(sorted({name for _, name in roles.field_mapping} - set(index_of))),
    )


def _check_roles(schema: TableSchema, roles: Roles, where: str) -> None:
    message_id = schema.column(roles.message_id_column)
    # VARCHAR, not CHAR (read back blank-padded, a redelivered id would never be found), and
    # wide enough for an SQS message id (a 36-character UUID).
    if (
        message_id is None
        or message_id.kind is not ColumnKind.VARCHAR
        or message_id.size < SQS_MESSAGE_ID_LENGTH
    ):
        found = "has no such column" if message_id is None else f"is {message_id.redshift_type}"
        raise SchemaError(
            f"{where}: MESSAGE_ID_COLUMN {roles.message_id_column} {found}; it needs a VARCHAR "
            f"of at least {SQS_MESSAGE_ID_LENGTH} bytes (VARCHAR(128) recommended) for each "
            "record's message id: exactly-once depends on it"
        )
    overflow = schema.column(roles.overflow_column) if roles.overflow_column else None
    if overflow is not None and (overflow.kind is not ColumnKind.SUPER or overflow.required):
        kind = "NOT NULL without a default" if overflow.required else overflow.redshift_type
        raise SchemaError(
            f"{where}: OVERFLOW_COLUMN {overflow.name} is {kind}; it must be a nullable SUPER "
            "(or set OVERFLOW_COLUMN=none)"
        )
    for name in roles.default_columns:
        column = schema.column(name)
        if column is not None and column.required:
            raise SchemaError(
                f"{where}: DEFAULT_COLUMNS names {name}, which is NOT NULL without a default: "
                "every INSERT would fail"
            )
