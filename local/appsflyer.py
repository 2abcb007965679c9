"""The worked example: AppsFlyer's push-API table, as data (dev-only: the function reads every
target's table from its catalog and knows no table).

`make ddl` writes sql/create_table.sql from it; tests build the layout the function would derive
from that table's catalog (`appsflyer_layout`), and an integration test checks that reading the
catalog of the created table gives exactly `appsflyer_schema()`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from ingest.config import Roles
from ingest.layout import TableLayout, build_layout
from ingest.records import Rejection, Row, SqsMessage, decode
from ingest.row_reader import RowReader
from ingest.schema import Column, ColumnKind, TableSchema, quote_identifier
from ingest.sql import InsertRenderer, Limits, Rendering

DEFAULT_TABLE = "public.appsflyer_events"


def _v(name: str, size: int, *, required: bool = False) -> Column:
    return Column(name, ColumnKind.VARCHAR, size=size, not_null=required)


def _ts(name: str, *, required: bool = False) -> Column:
    return Column(name, ColumnKind.TIMESTAMP, not_null=required)


def _b(name: str) -> Column:
    return Column(name, ColumnKind.BOOLEAN)


def _d(name: str) -> Column:
    return Column(name, ColumnKind.DECIMAL, precision=18, scale=6)


def _super(name: str) -> Column:
    return Column(name, ColumnKind.SUPER)


# The AppsFlyer push-API columns of the original `appsflyer_events` table, in its order.
# Where the original said TEXT (which Redshift silently turns into VARCHAR(256)) the size is
# explicit and generous: real user agents, referrers and deep links run to kilobytes.
PAYLOAD_COLUMNS: tuple[Column, ...] = (
    _v("appsflyer_id", 255, required=True),
    _v("event_name", 255, required=True),
    _ts("event_time", required=True),
    _ts("event_time_selected_timezone"),
    _v("customer_user_id", 255),
    _v("idfa", 255),
    _v("idfv", 255),
    _v("advertising_id", 255),
    _v("android_id", 255),
    _v("oaid", 255),
    _v("amazon_aid", 255),
    _v("imei", 255),
    _v("app_id", 255),
    _v("app_name", 255),
    _v("app_version", 255),
    _v("bundle_id", 255),
    _v("platform", 50),
    _v("sdk_version", 100),
    _v("api_version", 50),
    _v("device_type", 255),
    _v("device_model", 255),
    _v("device_category", 100),
    _v("os_version", 100),
    _v("language", 50),
    _v("user_agent", 2048),
    _v("country_code", 10),
    _v("region", 100),
    _v("state", 100),
    _v("city", 255),
    _v("postal_code", 50),
    _v("dma", 100),
    _v("ip", 45),
    _v("carrier", 255),
    _v("operator", 255),
    _b("wifi"),
    _v("media_source", 255),
    _v("campaign", 500),
    _v("campaign_type", 255),
    _v("af_channel", 255),
    _v("af_keywords", 500),
    _v("af_ad", 500),
    _v("af_ad_id", 255),
    _v("af_ad_type", 255),
    _v("af_adset", 500),
    _v("af_adset_id", 255),
    _v("af_c_id", 255),
    _v("af_siteid", 255),
    _v("af_sub_siteid", 255),
    _v("af_sub1", 500),
    _v("af_sub2", 500),
    _v("af_sub3", 500),
    _v("af_sub4", 500),
    _v("af_sub5", 500),
    _v("attributed_touch_type", 255),
    _ts("attributed_touch_time"),
    _ts("attributed_touch_time_selected_timezone"),
    _v("match_type", 255),
    _v("engagement_type", 255),
    _v("af_prt", 255),
    _v("af_attribution_lookback", 255),
    _v("af_reengagement_window", 255),
    _b("is_primary_attribution"),
    _b("is_retargeting"),
    _v("retargeting_conversion_type", 255),
    _ts("install_time"),
    _ts("install_time_selected_timezone"),
    _v("install_app_store", 255),
    _ts("device_download_time"),
    _ts("device_download_time_selected_timezone"),
    _b("store_reinstall"),
    _v("contributor_1_media_source", 255),
    _v("contributor_1_campaign", 500),
    _v("contributor_1_touch_type", 255),
    _ts("contributor_1_touch_time"),
    _v("contributor_1_match_type", 255),
    _v("contributor_1_engagement_type", 255),
    _v("contributor_1_af_prt", 255),
    _v("contributor_2_media_source", 255),
    _v("contributor_2_campaign", 500),
    _v("contributor_2_touch_type", 255),
    _ts("contributor_2_touch_time"),
    _v("contributor_2_match_type", 255),
    _v("contributor_2_engagement_type", 255),
    _v("contributor_2_af_prt", 255),
    _v("contributor_3_media_source", 255),
    _v("contributor_3_campaign", 500),
    _v("contributor_3_touch_type", 255),
    _ts("contributor_3_touch_time"),
    _v("contributor_3_match_type", 255),
    _v("contributor_3_engagement_type", 255),
    _v("contributor_3_af_prt", 255),
    _v("event_type", 255),
    _v("event_source", 100),
    _super("event_value"),
    _d("event_revenue"),
    _d("event_revenue_usd"),
    _v("event_revenue_currency", 10),
    _d("revenue_in_selected_currency"),
    _v("selected_currency", 10),
    _b("is_receipt_validated"),
    _v("conversion_type", 255),
    _v("af_cost_model", 255),
    _d("af_cost_value"),
    _v("af_cost_currency", 10),
    _d("cost_in_selected_currency"),
    _v("gp_referrer", 4096),
    _ts("gp_click_time"),
    _ts("gp_install_begin"),
    _v("gp_broadcast_referrer", 4096),
    _v("http_referrer", 4096),
    _v("original_url", 8192),
    _v("deeplink_url", 8192),
    _v("custom_data", 65535),
    _v("custom_dimension", 500),
    _v("keyword_id", 255),
    _v("keyword_match_type", 255),
    _v("network_account_id", 255),
    _v("store_product_page", 2048),
    _b("is_lat"),
    _b("gdpr_applies"),
    _b("ad_personalization_enabled"),
    _b("ad_user_data_enabled"),
    _v("raw_consent_data", 4096),
    _v("selected_timezone", 100),
)

# Columns the pipeline fills itself. `ingested_at` is left to its DEFAULT so it costs the
# INSERT nothing; `extra` keeps every payload field that has no column, so nothing is lost.
MESSAGE_ID_COLUMN = _v("sqs_message_id", 128, required=True)
EXTRA_COLUMN = _super("extra")
INGESTED_AT_COLUMN = Column("ingested_at", ColumnKind.TIMESTAMP, not_null=True, has_default=True)

# The table's columns, in order; INSERT_COLUMNS are those the function writes.
INSERT_COLUMNS: tuple[Column, ...] = (*PAYLOAD_COLUMNS, MESSAGE_ID_COLUMN, EXTRA_COLUMN)
TABLE_COLUMNS: tuple[Column, ...] = (*INSERT_COLUMNS, INGESTED_AT_COLUMN)
PAYLOAD_COLUMN_NAMES: frozenset[str] = frozenset(c.name for c in PAYLOAD_COLUMNS)

DIST_KEY = "appsflyer_id"
SORT_KEY = "event_time"

# format_type()'s spelling of each kind, as the catalog query returns it.
_FORMAT_TYPE = {
    ColumnKind.TIMESTAMP: "timestamp without time zone",
    ColumnKind.BOOLEAN: "boolean",
    ColumnKind.SUPER: "super",
}


def _format_type(column: Column) -> str:
    if column.kind is ColumnKind.VARCHAR:
        return f"character varying({column.size})"
    if column.kind is ColumnKind.DECIMAL:
        return f"numeric({column.precision},{column.scale})"
    return _FORMAT_TYPE[column.kind]


def appsflyer_schema(table: str = DEFAULT_TABLE) -> TableSchema:
    """What the catalog query returns for the table sql/create_table.sql creates."""
    return TableSchema(
        table,
        tuple(
            Column(
                c.name,
                c.kind,
                c.size,
                c.precision,
                c.scale,
                c.not_null,
                c.has_default,
                _format_type(c),
            )
            for c in TABLE_COLUMNS
        ),
    )


def appsflyer_layout(table: str = DEFAULT_TABLE, roles: Roles | None = None) -> TableLayout:
    return build_layout(appsflyer_schema(table), roles or Roles(), "example")


def render_create_table(table: str) -> str:
    """The Redshift DDL for `table` (schema-qualified)."""
    lines = [
        f"    {quote_identifier(c.name)} {c.redshift_type}{' NOT NULL' if c.not_null else ''},"
        for c in INSERT_COLUMNS
    ]
    lines.append(
        f"    {quote_identifier(INGESTED_AT_COLUMN.name)} TIMESTAMP NOT NULL DEFAULT GETDATE()"
    )
    qualified = ".".join(quote_identifier(part) for part in table.split("."))
    return (
        "-- Generated from local/appsflyer.py by `make ddl`; tests fail if this file drifts.\n"
        f"CREATE TABLE IF NOT EXISTS {qualified} (\n"
        + "\n".join(lines)
        + "\n)\n"
        + f"DISTKEY ({quote_identifier(DIST_KEY)})\n"
        + f"SORTKEY ({quote_identifier(SORT_KEY)});\n"
    )


@functools.cache
def _reader() -> RowReader:
    return RowReader(appsflyer_layout())


def validate(message: SqsMessage) -> Row | Rejection:
    """What the function makes of one message for this table: decode, then read."""
    decoded = decode(message)
    return decoded if isinstance(decoded, Rejection) else _reader().read(decoded)


def render(
    rows: Sequence[Row],
    *,
    max_bytes: int = 100_000,
    max_parameters: int = 32_767,
    statements_per_transaction: int = 1,
) -> Rendering:
    limits = Limits(max_bytes, max_parameters, statements_per_transaction)
    return InsertRenderer(_reader().layout, limits).render(rows)
