"""moto standing in for SQS and DynamoDB: its server, and the ledger table the template declares."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free loopback port: the handler reaches SQS and DynamoDB over HTTP."""
    # werkzeug logs every request unless its logger is configured: keep it quiet.
    access_log = logging.getLogger("werkzeug")
    previous_level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        access_log.setLevel(previous_level)


def create_ledger_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The table template.yaml declares: message_id hash key, target range key, on demand."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "message_id", "KeyType": "HASH"},
            {"AttributeName": "target", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "message_id", "AttributeType": "S"},
            {"AttributeName": "target", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
