"""The demo's event streams: one handler, two tables, nothing but the settings told apart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.stack import LocalDataApi
from scripts.generate_events import COUPON_COLUMN_DDL

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
SQL = ROOT / "sql"
# Both streams keep MESSAGE_ID_COLUMN at its default: the demo counts rows by it.
MESSAGE_ID_COLUMN = "sqs_message_id"

# A fault takes the stack and the handler's in-invocation retry count; it says what it did.
Fault = Callable[[LocalDataApi, int], str]


def refuse_secondary(api: LocalDataApi, retries: int) -> str:
    """More quota rejections than one invocation retries: the secondary's share comes back."""
    count = retries + 1
    api.reject_next("secondary-wg", count, "ActiveStatementsExceededException")
    return (
        f"secondary-wg refuses its next {count} submits (ActiveStatementsExceededException):\n"
        f"one more than the {retries} retries the handler makes within one invocation"
    )


@dataclass(frozen=True)
class Placement:
    """Where a payload field's value must be in every target once the batch is written: a
    column (`currency`) or a key of a SUPER column (`extra.coupon_code`), for each record of
    `records_of` (default: the batch) that carries the field and is not expected to be
    dead-lettered."""

    field: str  # a payload path, dot-separated (as FIELD_MAPPING writes it)
    place: str
    why: str
    absent_from: str | None = None  # a column or SUPER key that must not hold it as well
    records_of: str | None = None  # an earlier event file of the stream, looked at again


@dataclass(frozen=True)
class Step:
    file: str
    title: str
    notes: tuple[str, ...] = ()  # what the batch shows
    fault: Fault | None = None
    # DDL run on every target before the batch, as an analyst would while the function runs;
    # the demo then waits past SCHEMA_REFRESH_SECONDS.
    table_change: str | None = None
    placements: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    why: str


@dataclass(frozen=True)
class Stream:
    """One event stream: its table, the handler's settings for it, and the batches to replay."""

    title: str
    table: str
    ddl: Path
    expected: tuple[Path, ...]  # expected-outcomes files: event file -> its dead letters
    settings: tuple[Setting, ...]
    steps: tuple[Step, ...]

    def setting(self, name: str) -> str | None:
        return next((s.value for s in self.settings if s.name == name), None)


# What a stream may set. Each stream starts from all of them unset (the function's defaults),
# so neither the previous stream nor the caller's shell decides what the handler reads.
TABLE_SETTINGS = (
    "TARGET_TABLE",
    "MESSAGE_ID_COLUMN",
    "OVERFLOW_COLUMN",
    "DEFAULT_COLUMNS",
    "LOCAL_TIME_COLUMNS",
    "SORT_KEY_COLUMN",
    "FIELD_MAPPING",
    "SCHEMA_REFRESH_SECONDS",
)

APPSFLYER = Stream(
    title="AppsFlyer events",
    table="public.appsflyer_events",
    ddl=SQL / "create_table.sql",
    expected=(EVENTS / "expected-outcomes.json",),
    settings=(
        Setting("TARGET_TABLE", "public.appsflyer_events", "every other setting at its default"),
    ),
    steps=(
        Step(
            "sqs-clean-batch.json",
            "10 good records, first delivery, while the secondary is refusing work",
            notes=(
                "every record reaches the primary and must come back for the secondary;",
                "nothing remembers that the primary holds them: on redelivery the handler asks",
            ),
            fault=refuse_secondary,
        ),
        Step("sqs-mixed-batch.json", "10 good records and one of each kind of poison"),
        Step("sqs-large-batch.json", "500 good records: several INSERTs per target"),
        Step(
            "sqs-redelivered-batch.json",
            "SQS redelivers batch 1 (ApproximateReceiveCount 2-4)",
            notes=(
                "the handler asks each target (a SELECT through the Data API) which of them it",
                "already holds: the primary holds all 10, so only the secondary is written;",
                "were SQS to deliver them yet again, both targets would be asked and say so",
            ),
        ),
    ),
)

ORDERS = Stream(
    title="shop orders: another table, the same code",
    table="public.orders",
    ddl=SQL / "orders.sql",
    expected=(
        EVENTS / "orders-expected-outcomes.json",
        EVENTS / "orders-coupon-expected-outcomes.json",
    ),
    settings=(
        Setting("TARGET_TABLE", "public.orders", "the function reads its columns from the catalog"),
        Setting(
            "FIELD_MAPPING",
            '{"payment.captured":"paid"}',
            "some orders nest paid under payment",
        ),
        Setting("SORT_KEY_COLUMN", "none", "no event_time: redeliveries looked up by id alone"),
        Setting(
            "SCHEMA_REFRESH_SECONDS",
            "1",
            "the table is read again after 1 s, not 300",
        ),
    ),
    steps=(
        Step(
            "orders-batch.json",
            "9 good orders in several shapes and 3 that break a column's limit",
            notes=(
                "a new cold start with other settings: no code change, no table in the code;",
                "each value is checked against its column's type as the catalog describes it",
            ),
            placements=(
                Placement(
                    "Currency",
                    "currency",
                    "lower-cased, as Redshift folds names",
                    absent_from="extra.Currency",
                ),
                Placement("payment.captured", "paid", "FIELD_MAPPING reaches into payment"),
                Placement(
                    "paid",
                    "paid",
                    "a mapped column still takes its own field",
                    absent_from="extra.paid",
                ),
                Placement("payment", "extra.payment", "no column of that name"),
                Placement("coupon_code", "extra.coupon_code", "no such column (yet)"),
            ),
        ),
        Step(
            "orders-coupon-batch.json",
            "orders carrying coupon_code, after a column was added for it",
            notes=(
                "an analyst adds a column while the function runs: no deploy, no restart;",
                "the function reads the table again once SCHEMA_REFRESH_SECONDS have passed;",
                "batch 5's coupon codes stay in extra: the column did not exist when they came",
            ),
            table_change=COUPON_COLUMN_DDL,
            placements=(
                Placement(
                    "coupon_code",
                    "coupon_code",
                    "the new column, with its own limit",
                    absent_from="extra.coupon_code",
                ),
                Placement(
                    "coupon_code",
                    "extra.coupon_code",
                    "written before the column existed",
                    absent_from="coupon_code",
                    records_of="orders-batch.json",
                ),
            ),
        ),
    ),
)

STREAMS = (APPSFLYER, ORDERS)
