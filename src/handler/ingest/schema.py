"""The target table's columns, declared once as data; validation and DDL derive from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ColumnKind(Enum):
    VARCHAR = "VARCHAR"
    TIMESTAMP = "TIMESTAMP"
    BOOLEAN = "BOOLEAN"
    DECIMAL = "DECIMAL"
    SUPER = "SUPER"


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    size: int = 0  # VARCHAR: maximum bytes (Redshift counts bytes, not characters)
    precision: int = 0  # DECIMAL
    scale: int = 0  # DECIMAL
    required: bool = False
    # TIMESTAMP: keep the sender's wall-clock time instead of converting an offset to UTC
    # (AppsFlyer's *_selected_timezone fields are local times by definition).
    local_time: bool = False

    @property
    def redshift_type(self) -> str:
        if self.kind is ColumnKind.VARCHAR:
            return f"VARCHAR({self.size})"
        if self.kind is ColumnKind.DECIMAL:
            return f"DECIMAL({self.precision},{self.scale})"
        return str(self.kind.value)


def _v(name: str, size: int, *, required: bool = False) -> Column:
    return Column(name, ColumnKind.VARCHAR, size=size, required=required)


def _ts(name: str, *, required: bool = False) -> Column:
    local = name.endswith("_selected_timezone")
    return Column(name, ColumnKind.TIMESTAMP, required=required, local_time=local)


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
INGESTED_AT_COLUMN = _ts("ingested_at")

# The columns every INSERT names, in order.
INSERT_COLUMNS: tuple[Column, ...] = (*PAYLOAD_COLUMNS, MESSAGE_ID_COLUMN, EXTRA_COLUMN)
PAYLOAD_COLUMN_NAMES: frozenset[str] = frozenset(c.name for c in PAYLOAD_COLUMNS)

DIST_KEY = "appsflyer_id"
SORT_KEY = "event_time"


def quote_identifier(name: str) -> str:
    """Double-quote an identifier already validated as [a-z_][a-z0-9_]* (see config)."""
    return f'"{name}"'


def render_create_table(table: str) -> str:
    """The Redshift DDL for `table` (schema-qualified, validated by config)."""
    lines = [
        f"    {quote_identifier(c.name)} {c.redshift_type}{' NOT NULL' if c.required else ''},"
        for c in INSERT_COLUMNS
    ]
    lines.append(
        f"    {quote_identifier(INGESTED_AT_COLUMN.name)} TIMESTAMP NOT NULL DEFAULT GETDATE()"
    )
    qualified = ".".join(quote_identifier(part) for part in table.split("."))
    return (
        "-- Generated from src/handler/ingest/schema.py by `make ddl`; "
        "tests fail if this file drifts.\n"
        f"CREATE TABLE IF NOT EXISTS {qualified} (\n"
        + "\n".join(lines)
        + "\n)\n"
        + f"DISTKEY ({quote_identifier(DIST_KEY)})\n"
        + f"SORTKEY ({quote_identifier(SORT_KEY)});\n"
    )
