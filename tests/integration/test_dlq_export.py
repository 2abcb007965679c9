"""scripts/dlq_export.py on any exit: an exception or a Ctrl-C mid-export leaves no message
hidden, a Binary attribute survives the file, and the file is its owner's alone (moto's SQS:
in-process, or its server for the Ctrl-C of a real process)."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from scripts import dlq_export
from scripts.dlq_export import export, queue_counts
from scripts.dlq_messages import attributes_from_file
from tests.interrupt import interrupt_once_table_exists

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

# A value no text encoding round-trips: NUL, a lone 0xff, every high bit.
BINARY = bytes([0, 255, 128, 10, 13, 0x7F, 0xC3])


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[SQSClient]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _queue_with(sqs: SQSClient, count: int) -> str:
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for n in range(count):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"appsflyer_id": f"id-{n}"}),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "invalid_json"}},
        )
    return url


class _FailsOn:
    """moto's client, except that the named call raises on its `nth` use (1-based)."""

    def __init__(self, sqs: SQSClient, call: str, nth: int, error: BaseException) -> None:
        self._sqs = sqs
        self._call = call
        self._nth = nth
        self._error = error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._sqs, name)
        if name != self._call:
            return attribute

        def counted(**request: Any) -> Any:
            self.calls += 1
            if self.calls == self._nth:
                raise self._error
            return attribute(**request)

        return counted


THROTTLED = ClientError({"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "Receive")


@pytest.mark.parametrize("error", [THROTTLED, KeyboardInterrupt(), RuntimeError("disk full")])
def test_an_error_mid_export_leaves_no_message_hidden(sqs: SQSClient, error: BaseException) -> None:
    # Given a DLQ of 25 messages, and a receive that fails after two have returned 20
    url = _queue_with(sqs, 25)
    client = _FailsOn(sqs, "receive_message", 3, error)
    # When the export stops on it
    with pytest.raises(type(error)):
        export(client, url, io.StringIO(), wait_seconds=1)  # type: ignore[arg-type]
    # Then the 20 it held are visible again at once, not in an hour
    assert queue_counts(sqs, url) == (25, 0)


def test_a_failed_delete_mid_export_leaves_the_batch_visible(sqs: SQSClient) -> None:
    # Given an export with --delete whose second delete call fails
    url = _queue_with(sqs, 25)
    client = _FailsOn(sqs, "delete_message_batch", 2, THROTTLED)
    out = io.StringIO()
    with pytest.raises(ClientError):
        export(client, url, out, delete=True, wait_seconds=1)  # type: ignore[arg-type]
    # Then the first batch is gone (on disk first), the second is written and visible again
    lines = out.getvalue().splitlines()
    assert len(lines) == 20
    assert queue_counts(sqs, url) == (15, 0)


def test_binary_attributes_are_exported_as_base64_and_send_back_unchanged(
    sqs: SQSClient,
) -> None:
    # Given a dead letter with a Binary attribute beside a String one
    url = sqs.create_queue(QueueName="dlq-binary")["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes={
            "trace": {"DataType": "Binary", "BinaryValue": BINARY},
            "reason": {"DataType": "String", "StringValue": "invalid_json"},
        },
    )
    out = io.StringIO()
    # When it is exported (json.dumps of bytes raised TypeError before)
    export(sqs, url, out, wait_seconds=1, settled_checks=1)
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    # Then the file holds the value as base64 text, the form the AWS CLI takes for a blob
    trace = line["MessageAttributes"]["trace"]
    assert trace == {"DataType": "Binary", "BinaryValue": base64.b64encode(BINARY).decode()}
    # And sent back from the file, the same bytes arrive
    again = sqs.create_queue(QueueName="dlq-binary-again")["QueueUrl"]
    sqs.send_message(
        QueueUrl=again,
        MessageBody=line["Body"],
        MessageAttributes=attributes_from_file(line["MessageAttributes"]),  # type: ignore[arg-type]
    )
    (received,) = sqs.receive_message(QueueUrl=again, MessageAttributeNames=["All"])["Messages"]
    assert received["MessageAttributes"]["trace"]["BinaryValue"] == BINARY
    assert received["MessageAttributes"]["reason"]["StringValue"] == "invalid_json"


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277])
def test_the_export_file_is_the_owners_alone_whatever_the_umask(
    sqs: SQSClient, tmp_path: Path, umask: int
) -> None:
    url = _queue_with(sqs, 3)
    target = tmp_path / "export.jsonl"
    previous = os.umask(umask)
    try:
        code = dlq_export.main(
            ["export", "--queue-url", url, "--out", str(target), "--wait-seconds", "1"]
        )
    finally:
        os.umask(previous)
    assert code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3


def test_ctrl_c_releases_what_the_export_holds(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DLQ of 25 messages on moto's server, and an export running in its own process
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    url = _queue_with(client, 25)
    target = tmp_path / "export.jsonl"

    def holding() -> list[str]:
        """Non-empty once the export has hidden messages: it has got going."""
        return ["held"] if queue_counts(client, url)[1] > 0 else []

    # When Ctrl-C reaches it while it holds them (its settle checks take 3 x 2 s)
    code, output = interrupt_once_table_exists(
        "scripts.dlq_export",
        ["export", "--queue-url", url, "--out", str(target), "--wait-seconds", "2"],
        holding,
        running_seconds=0.5,
        exit_timeout=30,
    )
    # Then it says so, exits 130, and every message is visible again (not hidden for an hour)
    assert code == 130, output
    assert "interrupted" in output
    assert queue_counts(client, url) == (25, 0)
    # And the lines it wrote are whole, in a file only its owner can read
    lines = [json.loads(text) for text in target.read_text(encoding="utf-8").splitlines()]
    assert 0 < len(lines) <= 25
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
