"""The handler's targets on the session's local Data API (see tests/conftest.py), and the real
handler wired to it with moto's SQS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

import app
from ingest.wiring import deadlines_for
from local.aws_doubles import moto_server
from local.lambda_context import LambdaContextStub
from local.stack import LocalDataApi
from local.translate import BIND_MODES, BindMode

# The cluster and workgroup the handler's tests, the demo and the tests' REDSHIFT_TARGETS name.
PRIMARY_CLUSTER = "primary-cluster"
SECONDARY_WORKGROUP = "secondary-wg"


@pytest.fixture
def data_api(data_api: LocalDataApi) -> LocalDataApi:
    """The reset local Data API, serving primary-cluster and secondary-wg (database dev)."""
    data_api.declare_target(PRIMARY_CLUSTER, "cluster", databases=("dev",))
    data_api.declare_target(SECONDARY_WORKGROUP, "workgroup", databases=("dev",))
    return data_api


# ---- the real handler against the local stack ------------------------------------------------

DDL = (Path(__file__).resolve().parents[2] / "sql" / "create_table.sql").read_text()
PRIMARY = {
    "name": "primary",
    "database": "dev",
    "cluster_identifier": "primary-cluster",
    "db_user": "ingest",
}
SECONDARY = {"name": "secondary", "database": "dev", "workgroup_name": "secondary-wg"}
ADDRESS = {"primary": "primary-cluster", "secondary": "secondary-wg"}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server for SQS, reached over HTTP like the real service."""
    with moto_server() as endpoint:
        yield endpoint


@dataclass
class Stack:
    data_api: LocalDataApi
    sqs: Any
    dlq_url: str

    def invoke(self, event: dict[str, Any], remaining_ms: int = 60_000) -> list[str]:
        response = app.lambda_handler(event, LambdaContextStub(remaining_ms=remaining_ms))
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def counts(self, target: str) -> dict[str, int]:
        """Rows per sqs_message_id in a target's table."""
        with self.data_api.connect(ADDRESS[target], "dev") as conn:
            rows = conn.execute(
                "SELECT sqs_message_id, count(*) FROM public.appsflyer_events GROUP BY 1"
            ).fetchall()
        return dict(rows)

    def read_tables(self) -> None:
        """What the function's first invocation does before anything else: read each target's
        table from its catalog. A test that aims a fault at an INSERT reads them first, so that
        the fault meets the INSERT and not the catalog query."""
        batch = app.ingest()
        deadlines = deadlines_for(batch.settings, 60)
        for target in batch.settings.targets:
            batch.tables.table_for(target, deadlines)

    def dead_letter_messages(self) -> list[dict[str, Any]]:
        """Everything in the dead-letter queue, received and deleted."""
        received: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(message)
                self.sqs.delete_message(
                    QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def dead_letters(self) -> dict[str, dict[str, str]]:
        """The dead letters by original message id: their attributes and their body."""
        letters: dict[str, dict[str, str]] = {}
        for message in self.dead_letter_messages():
            attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            attributes["body"] = message["Body"]
            letters[attributes["original_message_id"]] = attributes
        return letters


def configure(
    monkeypatch: pytest.MonkeyPatch, targets: list[dict[str, str]], **tunables: str
) -> None:
    monkeypatch.setenv("REDSHIFT_TARGETS", json.dumps(targets))
    for name, value in tunables.items():
        monkeypatch.setenv(name, value)
    app.ingest.cache_clear()  # a new "cold start" with these settings


@pytest.fixture(params=BIND_MODES)
def bind_mode(request: pytest.FixtureRequest) -> BindMode:
    """Every handler test runs in both bind modes: how the Data API binds a parameter name
    used twice is undocumented, so the handler must not depend on it."""
    mode: BindMode = request.param
    return mode


@pytest.fixture
def stack(
    data_api: LocalDataApi,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    bind_mode: BindMode,
) -> Iterator[Stack]:
    data_api.set_bind_mode(bind_mode)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    sqs = boto3.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    monkeypatch.setenv("TARGET_TABLE", "public.appsflyer_events")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    monkeypatch.setenv("DEADLINE_MARGIN_SECONDS", "3")
    for address in ADDRESS.values():
        data_api.execute_ddl(address, "dev", DDL)
    configure(monkeypatch, [PRIMARY, SECONDARY])
    yield Stack(data_api, sqs, dlq_url)
    app.ingest.cache_clear()


def point_the_function_at(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, *, margin_seconds: float
) -> None:
    """Every AWS endpoint the function calls (Data API, SQS) at `endpoint`, both targets
    configured, and a cold start, for tests of what the function does when endpoints misbehave.
    """
    for variable in ("AWS_ENDPOINT_URL_REDSHIFT_DATA", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.setenv(variable, endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("REDSHIFT_TARGETS", json.dumps([PRIMARY, SECONDARY]))
    monkeypatch.setenv("TARGET_TABLE", "public.appsflyer_events")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", f"{endpoint}/000000000000/dlq")
    monkeypatch.setenv("DEADLINE_MARGIN_SECONDS", str(margin_seconds))
    app.ingest.cache_clear()
