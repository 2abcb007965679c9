"""moto's server for dead-letter queues and ledgers; the endpoint environment of instances."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
else:
    DynamoDBClient = SQSClient = Any

_REGION = "us-east-1"
_DUMMY = "testing"  # local services check no signatures


def instance_environment(data_api_url: str, moto_url: str) -> dict[str, str]:
    """The SDK's standard endpoint variables: instances build their clients as in Lambda."""
    return {
        "AWS_ENDPOINT_URL_REDSHIFT_DATA": data_api_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ACCESS_KEY_ID": _DUMMY,
        "AWS_SECRET_ACCESS_KEY": _DUMMY,
        "AWS_DEFAULT_REGION": _REGION,
    }


@contextmanager
def moto_server() -> Iterator[str]:
    """moto on a free port of 127.0.0.1, shared by every instance (one ledger, one DLQ each run)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class AwsResources:
    """Creates and reads the per-design dead-letter queue and ledger table on moto."""

    def __init__(self, moto_url: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id=_DUMMY, aws_secret_access_key=_DUMMY, region_name=_REGION
        )
        self._sqs: SQSClient = session.client("sqs", endpoint_url=moto_url)
        self._dynamodb: DynamoDBClient = session.client("dynamodb", endpoint_url=moto_url)

    def create_queue(self, name: str) -> str:
        return self._sqs.create_queue(QueueName=name)["QueueUrl"]

    def queue_depth(self, url: str) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def create_ledger(self, name: str) -> None:
        """The table template.yaml declares: message_id hash key, target range key."""
        self._dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "message_id", "AttributeType": "S"},
                {"AttributeName": "target", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "message_id", "KeyType": "HASH"},
                {"AttributeName": "target", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
