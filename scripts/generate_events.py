"""Write events/*.json: SQS events of AppsFlyer push-API records and of shop orders, the same
on every run.

`python -m scripts.generate_events` rewrites the files; `--check` only reports drift (the
template tests run the same comparison). The files feed `sam local invoke -e` and the tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
EXPECTED_FILE = "expected-outcomes.json"
# The second, different table (sql/orders.sql) and what the function must make of its events.
ORDERS_FILE = "orders-batch.json"
ORDERS_EXPECTED_FILE = "orders-expected-outcomes.json"
# Orders sent after a column was added to that table while the function ran (`make demo`):
# their expected outcomes hold once the function has read the table with the column.
ORDERS_COUPON_FILE = "orders-coupon-batch.json"
ORDERS_COUPON_EXPECTED_FILE = "orders-coupon-expected-outcomes.json"
COUPON_COLUMN_BYTES = 32
COUPON_COLUMN_DDL = (
    f"ALTER TABLE public.orders ADD COLUMN coupon_code VARCHAR({COUPON_COLUMN_BYTES})"
)

SEED = 20250314
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:sqs-redshift-ingest-Queue-6XB2J8N4Q1ZP"
# The relay that receives AppsFlyer's push API and forwards each event to the queue.
SENDER_ID = "AROA3EXAMPLE7RELAY42:appsflyer-push-relay"
# Events of one morning; a fixed instant keeps the output identical across runs.
BATCH_TIME = datetime(2025, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)

# Orders come from a checkout service through a queue of their own; their own seed leaves the
# AppsFlyer files as they were.
ORDERS_SEED = 20250315
ORDERS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:sqs-redshift-ingest-OrdersQueue-3KQ7M2D9X5WL"
ORDERS_SENDER_ID = "AROA3EXAMPLE7SHOP99:checkout-service"
ORDERS_TIME = datetime(2025, 3, 14, 10, 2, 17, 412_000, tzinfo=UTC)
ORDERS_COUPON_TIME = ORDERS_TIME + timedelta(minutes=5)

# The invocation payload limit of Lambda (the large batch must stay under it).
INVOKE_PAYLOAD_LIMIT = 6 * 1024 * 1024

Payload = dict[str, Any]


@dataclass(frozen=True)
class Geo:
    country_code: str
    region: str  # AppsFlyer's continent code
    state: str
    city: str
    postal_code: str
    dma: str | None
    ip: str  # documentation ranges (RFC 5737 / RFC 3849): realistic shape, nobody's address
    language: str
    timezone: str
    utc_offset_minutes: int  # in mid-March 2025
    carrier: str
    gdpr: bool


GEOS = (
    Geo("US", "NA", "CA", "San Jose", "95112", "807", "203.0.113.57", "en-US",
        "America/Los_Angeles", -7 * 60, "T-Mobile", gdpr=False),
    Geo("US", "NA", "NY", "Brooklyn", "11201", "501", "198.51.100.23", "en-US",
        "America/New_York", -4 * 60, "Verizon", gdpr=False),
    Geo("DE", "EU", "BE", "Berlin", "10115", None, "192.0.2.88", "de-DE",
        "Europe/Berlin", 60, "Telekom.de", gdpr=True),
    Geo("GB", "EU", "ENG", "London", "EC1A", None, "203.0.113.201", "en-GB",
        "Europe/London", 0, "EE", gdpr=True),
    Geo("BR", "SA", "SP", "São Paulo", "01310-100", None, "198.51.100.144", "pt-BR",
        "America/Sao_Paulo", -3 * 60, "Vivo", gdpr=False),
    Geo("JP", "AS", "13", "Tokyo", "150-0002", None, "2001:db8:85a3::8a2e:370:7334", "ja-JP",
        "Asia/Tokyo", 9 * 60, "NTT DOCOMO", gdpr=False),
)  # fmt: skip


@dataclass(frozen=True)
class Device:
    platform: str
    device_type: str
    device_model: str
    os_version: str
    user_agent: str


# Real-world shapes: app CFNetwork and Dalvik agents, and the in-app browser agents of social
# apps, which run past 256 bytes (what a Redshift TEXT column silently holds).
IOS_DEVICES = (
    Device("ios", "iPhone 14 Pro", "iPhone15,2", "17.4.1",
           "Tile%20Quest/3.14.2 CFNetwork/1494.0.7 Darwin/23.4.0"),
    Device("ios", "iPhone 15", "iPhone15,4", "17.3.1",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/455.0.0.38.101;FBBV/581233207;"
           "FBDV/iPhone15,4;FBMD/iPhone;FBSN/iOS;FBSV/17.3.1;FBSS/3;FBID/phone;FBLC/en_US;"
           "FBOP/5;FBRV/583401220;IABMV/1]"),
    Device("ios", "iPhone SE (3rd generation)", "iPhone14,6", "16.7.5",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_5 like Mac OS X) AppleWebKit/605.1.15 "
           "(KHTML, like Gecko) Mobile/15E148 Instagram 321.0.2.24.105 (iPhone14,6; iOS 16_7_5; "
           "en_US; en; scale=2.00; 750x1334; 571437283; IABMV/1)"),
    Device("ios", "iPad Air (5th generation)", "iPad13,16", "17.4",
           "Tile%20Quest/3.14.2 CFNetwork/1494.0.7 Darwin/23.4.0"),
)  # fmt: skip
ANDROID_DEVICES = (
    Device("android", "Galaxy S23 Ultra", "SM-S918B", "14",
           "Dalvik/2.1.0 (Linux; U; Android 14; SM-S918B Build/UP1A.231005.007)"),
    Device("android", "Pixel 8", "Pixel 8", "14",
           "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240305.019.A1; wv) "
           "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.119 Mobile "
           "Safari/537.36 [FB_IAB/FB4A;FBAV/452.0.0.46.122;FBBV/578212345;"
           "FBDM/{density=2.625,width=1080,height=2400};FBLC/en_US;FBRV/0;FBCR/T-Mobile;"
           "FBMF/Google;FBBD/google;FBPN/com.facebook.katana;FBDV/Pixel 8;FBSV/14;FBOP/1;"
           "FBCA/arm64-v8a:;]"),
    Device("android", "Redmi Note 11", "2201117TG", "13",
           "Dalvik/2.1.0 (Linux; U; Android 13; 2201117TG Build/TKQ1.221114.001)"),
    Device("android", "Galaxy A54 5G", "SM-A546B", "14",
           "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) "
           "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.105 Mobile "
           "Safari/537.36 musical_ly_2023305040 JsSdk/1.0 NetType/WIFI Channel/googleplay "
           "AppName/musical_ly app_version/33.5.4 ByteLocale/en ByteFullLocale/en Region/US "
           "Spark/1.5.0.9-bugfix AppVersion/33.5.4 BytedanceWebview/d8a21c6"),
)  # fmt: skip

APP_NAME = "Tile Quest: Match Puzzle"
BUNDLE_ID = "com.pinecone.tilequest"
IOS_APP_ID = "id1488298125"


@dataclass(frozen=True)
class Source:
    media_source: str
    campaign: str | None
    channel: str | None
    self_reporting: bool  # SRNs report their own attribution: no click URL


SOURCES = (
    Source("organic", None, None, self_reporting=False),
    Source("googleadwords_int", "TQ_{cc}_{os}_tROAS_Purchase_2025Q1", "ACI_Youtube", True),
    Source("Facebook Ads", "TQ_{cc}_{os}_AEO_Purchase_LAL3", "Instagram", True),
    Source("Apple Search Ads", "TQ_{cc}_iOS_ASA_Brand+Generic", None, True),
    Source("tiktokglobal_int", "TQ_{cc}_{os}_VO_Install_Spark", "TikTok", True),
    Source("unityads_int", "TQ_Global_{os}_CPI_Rewarded", None, False),
    Source("applovin_int", "TQ_{cc}_{os}_ROAS_D7", None, False),
)

IN_APP_EVENTS = (
    "af_complete_registration",
    "af_tutorial_completion",
    "af_level_achieved",
    "af_purchase",
    "af_ad_view",
    "af_login",
)


def af_time(moment: datetime) -> str:
    """AppsFlyer's UTC timestamp: 'YYYY-MM-DD HH:MM:SS.fff'."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def af_local_time(moment: datetime, offset_minutes: int) -> str:
    """AppsFlyer's *_selected_timezone shape: local time with a +hhmm offset."""
    local = moment + timedelta(minutes=offset_minutes)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{af_time(local)}{sign}{hours:02d}{minutes:02d}"


def sqs_record(
    body: str,
    *,
    message_id: str,
    receipt_handle: str,
    receive_count: int,
    sent_ms: int,
    first_receive_ms: int,
    queue_arn: str = QUEUE_ARN,
    sender_id: str = SENDER_ID,
) -> dict[str, Any]:
    """One record of an SQS event as Lambda delivers it (the tests build theirs with it too)."""
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms),
            "SenderId": sender_id,
            "ApproximateFirstReceiveTimestamp": str(first_receive_ms),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class Generator:
    """All randomness flows from one seeded generator, so the files never drift by themselves."""

    def __init__(self, seed: int = SEED) -> None:
        # Not for security: a reproducible sequence is the point.
        self.rng = random.Random(seed)  # noqa: S311

    # ------------------------------------------------------------------ small values
    def uuid(self, *, upper: bool = False) -> str:
        text = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return text.upper() if upper else text

    def digits(self, count: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(count))

    def token(self, count: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789") -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(count))

    def receipt_handle(self) -> str:
        raw = base64.b64encode(self.rng.randbytes(270)).decode()
        return "AQEB" + raw

    def money(self, low: float, high: float, places: int = 2) -> str:
        return f"{self.rng.uniform(low, high):.{places}f}"

    # ------------------------------------------------------------------ payloads
    def payload(self, when: datetime) -> Payload:
        """One AppsFlyer push-API event, shaped like the real thing."""
        rng = self.rng
        android = rng.random() < 0.55
        device = rng.choice(ANDROID_DEVICES if android else IOS_DEVICES)
        geo = rng.choice(GEOS)
        source = rng.choice(SOURCES)
        organic = source.media_source == "organic"
        installed = when - timedelta(
            days=rng.randint(0, 40),
            seconds=rng.randint(0, 86_399),
            milliseconds=rng.randint(0, 999),
        )
        is_install = rng.random() < 0.15
        event_time = (
            installed if is_install else when - timedelta(milliseconds=rng.randint(0, 4000))
        )
        touch = installed - timedelta(minutes=rng.randint(2, 600), milliseconds=rng.randint(0, 999))
        downloaded = installed - timedelta(seconds=rng.randint(20, 240))
        os_label = "Android" if android else "iOS"
        campaign = (
            source.campaign.format(cc=geo.country_code, os=os_label) if source.campaign else None
        )
        event_name = "install" if is_install else rng.choice(IN_APP_EVENTS)
        retargeting = not is_install and not organic and rng.random() < 0.1
        tz_offset = geo.utc_offset_minutes

        payload: Payload = {
            "appsflyer_id": f"{int(installed.timestamp() * 1000)}-{self.digits(19)}",
            "event_name": event_name,
            "event_time": af_time(event_time),
            "event_time_selected_timezone": af_local_time(event_time, tz_offset),
            "customer_user_id": None if is_install else f"u_{self.token(12, '0123456789abcdef')}",
            "idfa": None,
            "idfv": None,
            "advertising_id": None,
            "android_id": None,
            "oaid": None,
            "amazon_aid": None,
            "imei": None,
            "app_id": BUNDLE_ID if android else IOS_APP_ID,
            "app_name": APP_NAME,
            "app_version": rng.choice(["3.14.2", "3.14.1", "3.13.0"]),
            "bundle_id": BUNDLE_ID,
            "platform": device.platform,
            "sdk_version": "v6.14.2" if android else "v6.15.3",
            "api_version": "2.0",
            "device_type": device.device_type,
            "device_model": device.device_model,
            "device_category": "tablet" if device.device_model.startswith("iPad") else "phone",
            "os_version": device.os_version,
            "language": geo.language,
            "user_agent": device.user_agent,
            "country_code": geo.country_code,
            "region": geo.region,
            "state": geo.state,
            "city": geo.city,
            "postal_code": geo.postal_code,
            "dma": geo.dma,
            "ip": geo.ip,
            "carrier": geo.carrier,
            "operator": geo.carrier,
            # AppsFlyer sends booleans both as JSON booleans and as strings.
            "wifi": rng.choice([True, False, "true", "false"]),
            "media_source": source.media_source,
            "campaign": campaign,
            "campaign_type": None if organic else ("retargeting" if retargeting else "ua"),
            "af_channel": source.channel,
            "af_keywords": None,
            "af_ad": None,
            "af_ad_id": None,
            "af_ad_type": None,
            "af_adset": None,
            "af_adset_id": None,
            "af_c_id": None,
            "af_siteid": None,
            "af_sub_siteid": None,
            "af_sub1": "",
            "af_sub2": "",
            "af_sub3": None,
            "af_sub4": None,
            "af_sub5": None,
            "attributed_touch_type": None,
            "attributed_touch_time": None,
            "attributed_touch_time_selected_timezone": None,
            "match_type": None,
            "engagement_type": None,
            "af_prt": None,
            "af_attribution_lookback": None,
            "af_reengagement_window": None,
            "is_primary_attribution": True,
            "is_retargeting": "true" if retargeting else "false",
            "retargeting_conversion_type": "re-engagement" if retargeting else None,
            "install_time": af_time(installed),
            "install_time_selected_timezone": af_local_time(installed, tz_offset),
            "install_app_store": "com.android.vending" if android else None,
            "device_download_time": af_time(downloaded),
            "device_download_time_selected_timezone": af_local_time(downloaded, tz_offset),
            # Typed columns arrive as "" when unknown; the function stores NULL.
            "store_reinstall": rng.choice([False, "false", ""]),
            "contributor_1_media_source": None,
            "contributor_1_campaign": None,
            "contributor_1_touch_type": None,
            "contributor_1_touch_time": None,
            "contributor_1_match_type": None,
            "contributor_1_engagement_type": None,
            "contributor_1_af_prt": None,
            "contributor_2_media_source": None,
            "contributor_2_campaign": None,
            "contributor_2_touch_type": None,
            "contributor_2_touch_time": None,
            "contributor_2_match_type": None,
            "contributor_2_engagement_type": None,
            "contributor_2_af_prt": None,
            "contributor_3_media_source": None,
            "contributor_3_campaign": None,
            "contributor_3_touch_type": None,
            "contributor_3_touch_time": None,
            "contributor_3_match_type": None,
            "contributor_3_engagement_type": None,
            "contributor_3_af_prt": None,
            "event_type": "install" if is_install else "in-app-event",
            "event_source": "SDK",
            "event_value": None,
            "event_revenue": None,
            "event_revenue_usd": None,
            "event_revenue_currency": None,
            "revenue_in_selected_currency": None,
            "selected_currency": "USD",
            "is_receipt_validated": None,
            "conversion_type": "install",
            "af_cost_model": None,
            "af_cost_value": None,
            "af_cost_currency": None,
            "cost_in_selected_currency": None,
            "gp_referrer": None,
            "gp_click_time": None,
            "gp_install_begin": None,
            "gp_broadcast_referrer": "" if android else None,
            "http_referrer": None,
            "original_url": None,
            "deeplink_url": None,
            "custom_data": None,
            "custom_dimension": None,
            "keyword_id": None,
            "keyword_match_type": None,
            "network_account_id": None,
            "store_product_page": None,
            "is_lat": rng.choice([False, "false", None]),
            "gdpr_applies": geo.gdpr,
            "ad_personalization_enabled": True if geo.gdpr else None,
            "ad_user_data_enabled": True if geo.gdpr else None,
            "raw_consent_data": self._consent(geo),
            "selected_timezone": geo.timezone,
            # Fields the table has no column for: the function keeps them in `extra` (SUPER).
            "app_type": None,
            "blocked_reason": None,
            "is_organic": organic,
        }
        self._device_ids(payload, device, android)
        if not organic:
            self._attribution(
                payload,
                source=source,
                touch=touch,
                tz_offset=tz_offset,
                campaign=campaign,
                android=android,
            )
        if android:
            self._play_store(payload, source, touch, installed)
        if retargeting:
            payload["conversion_type"] = "re-engagement"
            payload["af_reengagement_window"] = "30d"
        self._event_details(payload, event_name)
        return payload

    def _consent(self, geo: Geo) -> str:
        if not geo.gdpr:
            return ""
        # A TCF v2 consent string's shape (base64url), not a real one.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "CQ" + self.token(80, alphabet) + ".YAAAAAAAAAAA"

    def _device_ids(self, payload: Payload, device: Device, android: bool) -> None:
        rng = self.rng
        if android:
            payload["advertising_id"] = self.uuid()
            payload["android_id"] = rng.choice([None, self.token(16, "0123456789abcdef")])
            return
        payload["idfv"] = self.uuid(upper=True)
        tracking_allowed = rng.random() < 0.35
        # Without App Tracking Transparency consent the IDFA is all zeros.
        payload["idfa"] = (
            self.uuid(upper=True) if tracking_allowed else "00000000-0000-0000-0000-000000000000"
        )
        payload["att"] = (
            "authorized" if tracking_allowed else rng.choice(["denied", "not_determined"])
        )

    def _attribution(
        self,
        payload: Payload,
        *,
        source: Source,
        touch: datetime,
        tz_offset: int,
        campaign: str | None,
        android: bool,
    ) -> None:
        rng = self.rng
        payload["attributed_touch_type"] = rng.choice(["click", "click", "impression"])
        payload["attributed_touch_time"] = af_time(touch)
        payload["attributed_touch_time_selected_timezone"] = af_local_time(touch, tz_offset)
        payload["engagement_type"] = payload["attributed_touch_type"]
        payload["af_attribution_lookback"] = (
            "7d" if payload["attributed_touch_type"] == "click" else "1d"
        )
        payload["match_type"] = "srn" if source.self_reporting else "id_matching"
        payload["af_c_id"] = self.digits(11)
        payload["af_adset"] = rng.choice(["AG_Broad_Puzzle", "LAL_3pct_Payers", "Interest_Casual"])
        payload["af_adset_id"] = self.digits(17)
        payload["af_ad"] = rng.choice(
            [
                "Video_Gameplay_15s_v3",
                "Playable_Level7_EN",
                "Static_Gems_1080x1080",
                "UGC_Reaction_30s",
            ]
        )
        payload["af_ad_id"] = self.digits(17)
        payload["af_ad_type"] = rng.choice(["video", "playable", "image", None])
        payload["af_cost_model"] = rng.choice(["cpi", "cpm", "cpc"])
        cost = self.money(0.05, 3.5, 6)
        payload["af_cost_value"] = cost
        payload["af_cost_currency"] = "USD"
        payload["cost_in_selected_currency"] = cost
        payload["af_prt"] = rng.choice([None, None, "pinecone_growth_agency"])
        if source.media_source == "Apple Search Ads":
            payload["af_keywords"] = rng.choice(["puzzle games", "tile match", "tile quest"])
            payload["keyword_id"] = self.digits(10)
            payload["keyword_match_type"] = rng.choice(["Exact", "Broad"])
        if not source.self_reporting:
            payload["af_siteid"] = self.token(24, "0123456789abcdef")
            payload["af_sub_siteid"] = self.token(12, "0123456789abcdef")
            click_id = self.token(32, "0123456789abcdef")
            app = BUNDLE_ID if android else IOS_APP_ID
            payload["original_url"] = (
                f"https://app.appsflyer.com/{app}?pid={source.media_source}&c={campaign}"
                f"&af_siteid={payload['af_siteid']}&af_sub_siteid={payload['af_sub_siteid']}"
                f"&af_c_id={payload['af_c_id']}&af_adset_id={payload['af_adset_id']}"
                f"&af_ad_id={payload['af_ad_id']}&clickid={click_id}"
                f"&af_click_lookback=7d&af_viewthrough_lookback=1d&redirect=false"
            )
        if rng.random() < 0.3:
            payload["deeplink_url"] = (
                f"tilequest://open?af_dp=tilequest%3A%2F%2Fshop&deep_link_value=shop"
                f"&deep_link_sub1={self.token(6)}&c={campaign}"
            )

    def _play_store(
        self, payload: Payload, source: Source, touch: datetime, installed: datetime
    ) -> None:
        utm = "google-play" if source.media_source == "organic" else source.media_source
        payload["gp_referrer"] = f"utm_source={utm}&utm_medium=organic&gclid={self.token(24)}"
        payload["gp_click_time"] = af_time(touch)
        payload["gp_install_begin"] = af_time(
            installed - timedelta(seconds=self.rng.randint(5, 90))
        )

    def _event_details(self, payload: Payload, event_name: str) -> None:
        rng = self.rng
        if event_name == "install":
            payload["event_value"] = ""  # AppsFlyer's empty event value: stored as NULL
            return
        value: dict[str, Any]
        if event_name == "af_purchase":
            currency, rate = rng.choice(
                [("USD", 1.0), ("EUR", 1.0876), ("GBP", 1.2741), ("BRL", 0.2012)]
            )
            price = rng.choice(["0.99", "4.99", "9.99", "19.99", "49.99"])
            usd = f"{float(price) * rate:.6f}".rstrip("0").rstrip(".")
            receipt = self.token(20, "0123456789")
            value = {
                "af_revenue": price,
                "af_currency": currency,
                "af_content_id": f"{BUNDLE_ID}.gems_{rng.choice([100, 550, 1200, 2500, 6500])}",
                "af_content_type": "iap",
                "af_quantity": 1,
                "af_receipt_id": receipt,
            }
            payload["event_revenue"] = price
            payload["event_revenue_currency"] = currency
            # Sometimes a JSON number, as the push API sends it for converted amounts.
            payload["event_revenue_usd"] = float(usd) if rng.random() < 0.5 else usd
            payload["revenue_in_selected_currency"] = usd
            payload["is_receipt_validated"] = rng.choice([True, "true", False])
        elif event_name == "af_ad_view":
            revenue = self.money(0.001, 0.05, 6)
            value = {
                "af_adrev_ad_type": rng.choice(["rewarded", "interstitial", "banner"]),
                "ad_unit": f"ca-app-pub-{self.digits(16)}/{self.digits(10)}",
                "ad_network": rng.choice(["AppLovin", "ironSource", "Google AdMob"]),
                "af_revenue": revenue,
                "af_currency": "USD",
            }
            payload["event_revenue"] = revenue
            payload["event_revenue_currency"] = "USD"
            payload["event_revenue_usd"] = revenue
            payload["revenue_in_selected_currency"] = revenue
        elif event_name == "af_level_achieved":
            value = {"af_level": str(rng.randint(2, 180)), "af_score": rng.randint(1_000, 250_000)}
        elif event_name == "af_complete_registration":
            value = {"af_registration_method": rng.choice(["apple", "google", "facebook", "email"])}
        elif event_name == "af_tutorial_completion":
            value = {
                "af_success": True,
                "af_tutorial_id": "tutorial_v4",
                "duration_s": rng.randint(40, 400),
            }
        else:
            value = {"method": rng.choice(["session_restore", "apple", "google"])}
        # The push API's event_value is a JSON document encoded as a string.
        payload["event_value"] = json.dumps(value, separators=(",", ":"))
        if rng.random() < 0.2:
            payload["custom_data"] = json.dumps({"ab_group": rng.choice("ABC"), "build": "release"})

    # ------------------------------------------------------------------ SQS envelopes
    def record(
        self,
        body: str,
        sent: datetime,
        receive_count: int = 1,
        *,
        queue_arn: str = QUEUE_ARN,
        sender_id: str = SENDER_ID,
    ) -> dict[str, Any]:
        sent_ms = int(sent.timestamp() * 1000)
        first_receive_ms = sent_ms + self.rng.randint(40, 900)
        message_id = self.uuid()
        return sqs_record(
            body,
            message_id=message_id,
            receipt_handle=self.receipt_handle(),
            receive_count=receive_count,
            sent_ms=sent_ms,
            first_receive_ms=first_receive_ms,
            queue_arn=queue_arn,
            sender_id=sender_id,
        )

    def clean_records(self, count: int, start: datetime) -> list[dict[str, Any]]:
        records = []
        for index in range(count):
            sent = start + timedelta(milliseconds=index * self.rng.randint(3, 60))
            body = json.dumps(self.payload(sent), ensure_ascii=False, separators=(",", ":"))
            records.append(
                self.record(body, sent + timedelta(milliseconds=self.rng.randint(50, 400)))
            )
        return records

    def redelivered(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The same messages again: same ids and bodies, new receipt handles, counted receives."""
        again = []
        for original in records:
            copy = json.loads(json.dumps(original))
            copy["receiptHandle"] = self.receipt_handle()
            copy["attributes"]["ApproximateReceiveCount"] = str(self.rng.choice([2, 2, 3, 4]))
            again.append(copy)
        return again

    def poison_records(self, start: datetime) -> list[tuple[dict[str, Any], str]]:
        """Records that each break exactly one rule, with the reason the function must give."""

        def body_of(payload: Payload) -> str:
            return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

        def fresh() -> Payload:
            return self.payload(start)

        bodies: list[tuple[str, str]] = []
        # A producer cut the message short.
        bodies.append((body_of(fresh())[:173], "invalid_json"))
        # A relay that wraps events in an array.
        bodies.append((json.dumps([fresh()], separators=(",", ":")), "not_an_object"))
        missing = fresh()
        del missing["event_time"]
        bodies.append((body_of(missing), "missing_required_field"))
        bad_time = fresh()
        bad_time["event_time"] = "14/03/2025 09:26:53"
        bodies.append((body_of(bad_time), "invalid_timestamp"))
        bad_bool = fresh()
        bad_bool["wifi"] = "maybe"
        bodies.append((body_of(bad_bool), "invalid_boolean"))
        bad_decimal = fresh()
        bad_decimal["event_revenue"] = "1234567890123.45"  # 13 integer digits; DECIMAL(18,6) has 12
        bodies.append((body_of(bad_decimal), "invalid_decimal"))
        too_long = fresh()
        too_long["country_code"] = "Österreich"  # 10 characters, 11 bytes: VARCHAR(10) counts bytes
        bodies.append((body_of(too_long), "value_too_long"))
        nul = fresh()
        nul["customer_user_id"] = "u_4f1c\x0098e2"  # JSON-escaped as \u0000 in the body
        bodies.append((body_of(nul), "nul_character"))
        # A lone UTF-16 surrogate, as JavaScript's JSON.stringify writes a broken string.
        bodies.append(
            (body_of(fresh()).replace('"city":"', '"city":"\\ud83d', 1), "invalid_unicode")
        )
        huge = fresh()
        # No columns for them, so they go to `extra`: one row bigger than a 100 KB statement,
        # each string within SUPER's 65,535 bytes (a longer one is refused as invalid_super).
        huge["debug_snapshot_1"] = base64.b64encode(self.rng.randbytes(42_000)).decode()
        huge["debug_snapshot_2"] = base64.b64encode(self.rng.randbytes(42_000)).decode()
        bodies.append((body_of(huge), "record_too_large"))

        out = []
        for index, (body, reason) in enumerate(bodies):
            sent = start + timedelta(milliseconds=index * 37)
            out.append((self.record(body, sent), reason))
        return out

    # ------------------------------------------------------------------ orders
    def order(self, when: datetime) -> Payload:
        """One order as a checkout service publishes it; sql/orders.sql is its table."""
        rng = self.rng
        quantity = rng.randint(1, 4)
        unit = Decimal(rng.choice(["0.99", "4.99", "19.90", "129.00", "349.50"]))
        offset = rng.choice([0, 0, 60, -5 * 60, 5 * 60 + 30])
        local = when + timedelta(minutes=offset)
        sign = "+" if offset >= 0 else "-"
        hours, minutes = divmod(abs(offset), 60)
        zone = "Z" if offset == 0 else f"{sign}{hours:02d}:{minutes:02d}"
        sku = f"SKU-{self.token(6, '0123456789ABCDEFGHJKMNPQRSTVWXYZ')}"
        amount = f"{unit * quantity:.2f}"
        return {
            "order_id": f"ord_{self.token(12, '0123456789ABCDEFGHJKMNPQRSTVWXYZ')}",
            "customer_id": f"cus_{self.token(14, '0123456789abcdef')}",
            # The exact digits as text, or a JSON number (whose trailing zeros may be gone).
            "amount": amount if rng.random() < 0.7 else float(amount),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "quantity": quantity,
            "discount": rng.choice([None, 0, 0.1, 0.15]),
            "paid": rng.choice([True, False]),
            "order_date": local.date().isoformat(),
            "created_at": local.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{local.microsecond // 1000:03d}{zone}",
            "attributes": {
                "channel": rng.choice(["web", "ios", "android"]),
                "items": [{"sku": sku, "qty": quantity, "unit_price": str(unit)}],
            },
        }

    def order_records(self, start: datetime) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Good orders in the shapes a table-driven function must handle, and three bad ones
        (each breaks one limit of sql/orders.sql), with the reason the function must give."""
        rng = self.rng
        payloads: list[tuple[Payload, str | None]] = []
        for index in range(9):
            payload = self.order(start + timedelta(seconds=index * 3))
            if index in (1, 5):
                # Redshift folds identifiers to lower case: this key names the `currency` column.
                payload["Currency"] = payload.pop("currency")
            if index in (2, 6):
                # Nested under another name: a mapping (payment.captured -> paid) takes it;
                # without one, `paid` stays NULL and `payment` goes to `extra`.
                payload["payment"] = {
                    "method": rng.choice(["card", "paypal"]),
                    "captured": payload.pop("paid"),
                }
            if index % 3 == 0:
                payload["coupon_code"] = rng.choice(["SPRING25", "WELCOME10"])  # no column
            payloads.append((payload, None))
        bad_amount = self.order(start + timedelta(seconds=1))
        bad_amount["amount"] = "19.999"  # DECIMAL(12,2) holds two decimals
        bad_quantity = self.order(start + timedelta(seconds=4))
        bad_quantity["quantity"] = 3_000_000_000  # INTEGER ends at 2,147,483,647
        bad_currency = self.order(start + timedelta(seconds=7))
        bad_currency["currency"] = "EURO"  # CHAR(3)
        for bad, why in (
            (bad_amount, "invalid_decimal"),
            (bad_quantity, "invalid_number"),
            (bad_currency, "value_too_long"),
        ):
            payloads.insert(rng.randint(1, len(payloads)), (bad, why))
        return self.order_envelopes(payloads, start)

    def coupon_records(self, start: datetime) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Orders sent once coupon_code is a column (COUPON_COLUMN_DDL): most carry a code, one
        none (the column stays NULL), and one a code longer than the column holds."""
        rng = self.rng
        payloads: list[tuple[Payload, str | None]] = []
        for index in range(7):
            payload = self.order(start + timedelta(seconds=index * 3))
            if index != 4:
                payload["coupon_code"] = rng.choice(["SPRING25", "WELCOME10", "FREESHIP"])
            payloads.append((payload, None))
        too_long = self.order(start + timedelta(seconds=2))
        # A partner's code of 40 bytes: VARCHAR(32) cannot hold it. Before the column existed
        # it would have gone to `extra`; now the column's own limit applies.
        too_long["coupon_code"] = "PARTNER-" + self.token(32, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        payloads.insert(rng.randint(1, len(payloads)), (too_long, "value_too_long"))
        return self.order_envelopes(payloads, start)

    def order_envelopes(
        self, payloads: list[tuple[Payload, str | None]], start: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """SQS records of the orders queue, and the reason for each one that must be refused."""
        records: list[dict[str, Any]] = []
        reasons: dict[str, str] = {}
        sent = start
        for payload, reason in payloads:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            sent += timedelta(milliseconds=self.rng.randint(20, 400))
            record = self.record(body, sent, queue_arn=ORDERS_QUEUE_ARN, sender_id=ORDERS_SENDER_ID)
            records.append(record)
            if reason is not None:
                reasons[record["messageId"]] = reason
        return records, reasons


def build_events() -> dict[str, Any]:
    """Every file under events/, by name, as JSON-ready data."""
    gen = Generator()
    clean = gen.clean_records(10, BATCH_TIME)

    good = gen.clean_records(10, BATCH_TIME + timedelta(minutes=3))
    poison = gen.poison_records(BATCH_TIME + timedelta(minutes=3, seconds=1))
    mixed = list(good)
    for record, _reason in poison:
        mixed.insert(gen.rng.randint(0, len(mixed)), record)

    large = gen.clean_records(500, BATCH_TIME + timedelta(minutes=7))
    redelivered = gen.redelivered(clean)

    expected = {
        "sqs-clean-batch.json": {"dead_lettered": {}},
        "sqs-mixed-batch.json": {
            "dead_lettered": {record["messageId"]: reason for record, reason in poison}
        },
        "sqs-large-batch.json": {"dead_lettered": {}},
        "sqs-redelivered-batch.json": {
            "dead_lettered": {},
            "redelivery_of": "sqs-clean-batch.json",
        },
    }
    orders_gen = Generator(ORDERS_SEED)
    orders, order_reasons = orders_gen.order_records(ORDERS_TIME)
    # Drawn after the first orders batch, so that batch stays as it was.
    coupons, coupon_reasons = orders_gen.coupon_records(ORDERS_COUPON_TIME)
    return {
        "sqs-clean-batch.json": {"Records": clean},
        "sqs-mixed-batch.json": {"Records": mixed},
        "sqs-large-batch.json": {"Records": large},
        "sqs-redelivered-batch.json": {"Records": redelivered},
        EXPECTED_FILE: expected,
        ORDERS_FILE: {"Records": orders},
        ORDERS_EXPECTED_FILE: {ORDERS_FILE: {"dead_lettered": order_reasons}},
        ORDERS_COUPON_FILE: {"Records": coupons},
        ORDERS_COUPON_EXPECTED_FILE: {
            ORDERS_COUPON_FILE: {"dead_lettered": coupon_reasons, "after": COUPON_COLUMN_DDL}
        },
    }


def render(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args(argv)
    drifted = []
    for name, data in build_events().items():
        path = EVENTS_DIR / name
        text = render(data)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                drifted.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(EVENTS_DIR.parent)}")
    if drifted:
        print("out of date (run `python -m scripts.generate_events`): " + ", ".join(drifted))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
