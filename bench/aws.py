"""moto's server for dead-letter queues; the endpoint environment of instances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

_REGION = "us-east-1"
_DUMMY = "testing"  # local services check no signatures


def instance_environment(data_api_url: str, moto_url: str) -> dict[str, str]:
    """The SDK's standard endpoint variables: instances build their clients as in Lambda."""
    return {
        "AWS_ENDPOINT_URL_REDSHIFT_DATA": data_api_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ACCESS_KEY_ID": _DUMMY,
        "AWS_SECRET_ACCESS_KEY": _DUMMY,
        "AWS_DEFAULT_REGION": _REGION,
    }


class AwsResources:
    """Creates and reads the per-design dead-letter queue on moto."""

    def __init__(self, moto_url: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id=_DUMMY, aws_secret_access_key=_DUMMY, region_name=_REGION
        )
        self._sqs: SQSClient = session.client("sqs", endpoint_url=moto_url)

    def create_queue(self, name: str) -> str:
        return self._sqs.create_queue(QueueName=name)["QueueUrl"]

    def queue_depth(self, url: str) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())
