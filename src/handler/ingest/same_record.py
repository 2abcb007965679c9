"""Whether the row a target holds under a redriven record's id is that record, value for value.

Why: a redrive carries `original_message_id`, and whoever may send to the source queue sets
it. The presence look-up finds a row by that id and compares its identifying columns
(appsflyer_id and event_name for AppsFlyer); a letter naming another record of the same user
and event would pass that test and be acknowledged as held, its values in no target and no
queue. So a redriven record the look-up finds is compared in full, by the database: one SELECT
returns the ids whose stored row equals what the record's INSERT would store, every value
rendered through the INSERT's own wrappers (CAST, JSON_PARSE), so both sides are typed and
printed by the same server. An id it does not return names a different record: an impostor,
dead-lettered as `invalid_redrive`, never skipped.

What is compared: every column the row carries a value for; a column it leaves NULL must be
NULL (a column with a default is skipped when the row has no value: the table filled it).
SUPER values are compared through JSON_SERIALIZE ("JSON_SERIALIZE function", Redshift's SQL
reference), since SUPER has no documented equality operator.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.layout import TableLayout
from ingest.limits import PARAMETERS, STATEMENT_BYTES
from ingest.names import SAME_VALUE, parameter_name
from ingest.records import Row
from ingest.schema import ColumnKind, qualified_name, quote_identifier
from ingest.sort_window import sort_key_window
from ingest.sql import value_wrapper

# JSON_SERIALIZE "returns an error when the JSON format exceeds the VARCHAR limit" (65,535
# bytes; Redshift's JSON_SERIALIZE page). A SUPER value larger than this is left out of the
# comparison (its other columns still compared): half the limit, since how Redshift spaces its
# serialised form is undocumented. A stored SUPER over the limit beside a smaller one sent
# still fails the SELECT: the records come back (PresenceUnknown), unverified on Redshift.
SERIALIZABLE_SUPER_BYTES = 32_768
# A statement's share kept for the SELECT's head and the window (and the name bytes we count).
_HEAD_BYTES = 4_096


Query = tuple[str, list[tuple[str, str]], tuple[str, ...]]  # SQL, parameters, ids asked


def same_record_queries(layout: TableLayout, rows: Sequence[Row]) -> list[Query]:
    """SELECTs of the record ids among `rows` whose stored row has exactly the rows' values;
    each with its parameters and the ids it asks about. Split to fit a statement's limits."""
    queries: list[Query] = []
    predicates: list[str] = []
    parameters: list[tuple[str, str]] = []
    asked: list[str] = []
    size = 0
    for row in rows:
        predicate, values = _predicate(layout, row, first_name=len(parameters))
        cost = len(predicate.encode("utf-8")) + sum(len(n) + len(v.encode()) for n, v in values)
        full = size + cost + _HEAD_BYTES > STATEMENT_BYTES
        if predicates and (full or len(parameters) + len(values) > PARAMETERS - 2):
            queries.append(_query(layout, predicates, parameters, asked, rows))
            predicates, parameters, asked, size = [], [], [], 0
            predicate, values = _predicate(layout, row, first_name=0)
        predicates.append(predicate)
        parameters.extend(values)
        asked.append(row.record_id)
        size += cost
    if predicates:
        queries.append(_query(layout, predicates, parameters, asked, rows))
    return queries


def _query(
    layout: TableLayout,
    predicates: list[str],
    parameters: list[tuple[str, str]],
    asked: list[str],
    rows: Sequence[Row],
) -> Query:
    columns = layout.columns
    id_column = quote_identifier(columns[layout.message_id_index].name)
    where = "(" + " OR ".join(predicates) + ")"
    window = sort_key_window([r for r in rows if r.record_id in set(asked)], layout.sort_key_index)
    parameters = list(parameters)
    if window is not None and layout.sort_key_index is not None:
        sort_column = quote_identifier(columns[layout.sort_key_index].name)
        low = parameter_name(len(parameters), SAME_VALUE)
        high = parameter_name(len(parameters) + 1, SAME_VALUE)
        where = (
            f"{sort_column} BETWEEN CAST(:{low} AS TIMESTAMP) AND CAST(:{high} AS TIMESTAMP) "
            f"AND {where}"
        )
        parameters += [(low, window[0]), (high, window[1])]
    # Identifiers come from configuration and the catalog; every value is a parameter.
    table = qualified_name(layout.table)
    sql = f"SELECT DISTINCT {id_column} FROM {table} WHERE {where}"  # noqa: S608
    return sql, parameters, tuple(asked)


def _predicate(
    layout: TableLayout, row: Row, *, first_name: int
) -> tuple[str, list[tuple[str, str]]]:
    """`(col = <the INSERT's expression> AND ...)` for one row: what its INSERT would store."""
    terms: list[str] = []
    values: list[tuple[str, str]] = []
    for index, column in enumerate(layout.columns):
        value = row.values[index]
        quoted = quote_identifier(column.name)
        if value is None:
            if not layout.has_default[index]:
                terms.append(f"{quoted} IS NULL")
            continue
        if type(value) is bool:
            terms.append(f"{quoted} = {'TRUE' if value else 'FALSE'}")
            continue
        if not value:
            terms.append(f"{quoted} = ''")
            continue
        name = parameter_name(first_name + len(values), SAME_VALUE)
        values.append((name, value))
        before, after = value_wrapper(column.kind, column.redshift_type)
        expression = f"{before}{name}{after}"
        if column.kind is ColumnKind.SUPER:
            if len(value.encode("utf-8")) > SERIALIZABLE_SUPER_BYTES:
                continue  # JSON_SERIALIZE would fail the whole comparison: left out
            terms.append(f"JSON_SERIALIZE({quoted}) = JSON_SERIALIZE({expression})")
        else:
            terms.append(f"{quoted} = {expression}")
    return "(" + " AND ".join(terms) + ")", values
