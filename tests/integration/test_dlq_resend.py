"""scripts/dlq_resend.py: records SQS itself moved to the dead-letter queue go back with
`original_message_id` (and `failed_targets` when the operator knows them), deleted from the DLQ
only once sent; a dry run changes nothing. With moto's SQS, then end to end on the local stack:
a one-target outage whose records SQS moved ends with each record once in every target."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from app import BatchNotProcessed
from scripts.dlq_export import queue_counts
from scripts.dlq_resend import Options, Selection, resend
from tests.integration.conftest import ADDRESS, Stack
from tests.support import payload

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any


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


def _arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def _queues(sqs: SQSClient, max_receive_count: int = 2) -> tuple[str, str]:
    """(source, dead-letter) queues, the source's redrive policy pointing at the second."""
    suffix = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    policy = {"deadLetterTargetArn": _arn(sqs, dlq), "maxReceiveCount": str(max_receive_count)}
    source = sqs.create_queue(
        QueueName=f"source-{suffix}", Attributes={"RedrivePolicy": json.dumps(policy)}
    )["QueueUrl"]
    return source, dlq


def _moved_by_sqs(sqs: SQSClient, source: str, bodies: list[str], receives: int) -> list[str]:
    """Send the bodies and receive them until SQS moves them to the DLQ; their source ids."""
    ids = [sqs.send_message(QueueUrl=source, MessageBody=body)["MessageId"] for body in bodies]
    for _ in range(receives + 1):  # the receive after the last one moves them
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert queue_counts(sqs, source) == (0, 0)
    return ids


def _all(sqs: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every message of the queue, received (attributes included) and deleted."""
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(dict(message))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _strings(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def _letter(sqs: SQSClient, dlq: str, reason: str, original: str, targets: str) -> None:
    """A dead letter of the function's own, as src/handler/ingest/dead_letter.py sends it."""
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps({"appsflyer_id": original}),
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason},
            "original_message_id": {"DataType": "String", "StringValue": original},
            "failed_targets": {"DataType": "String", "StringValue": targets},
        },
    )


def _options(**overrides: Any) -> Options:
    lines: list[str] = []
    return Options(**{"wait_seconds": 1, "echo": lines.append, **overrides})


def test_sqs_moves_a_message_to_the_dlq_under_its_own_id(sqs: SQSClient) -> None:
    # What the helper relies on (SQS developer guide: moved "with its original message ID").
    source, dlq = _queues(sqs)
    (source_id,) = _moved_by_sqs(sqs, source, ["{}"], receives=2)
    (moved,) = _all(sqs, dlq)
    assert moved["MessageId"] == source_id
    assert "MessageAttributes" not in moved  # none of the function's attributes


def test_a_dry_run_sends_nothing_deletes_nothing_and_hides_nothing(sqs: SQSClient) -> None:
    source, dlq = _queues(sqs)
    ids = _moved_by_sqs(sqs, source, ['{"a": 1}', '{"a": 2}'], receives=2)
    printed: list[str] = []
    report = resend(sqs, dlq, source, _options(failed_targets="secondary", echo=printed.append))
    assert report.selected == 2
    assert report.sent == 0
    assert queue_counts(sqs, dlq) == (2, 0)
    assert queue_counts(sqs, source) == (0, 0)
    # The plan names ids and targets, never a body
    assert sorted(printed) == sorted(
        f"would resend {i}: original_message_id={i}, failed_targets=secondary" for i in ids
    )
    assert not any('"a"' in line for line in printed)


def test_records_sqs_moved_go_back_with_their_source_id_and_the_named_targets(
    sqs: SQSClient,
) -> None:
    # Given two records SQS moved and one poison letter of the function's own
    source, dlq = _queues(sqs)
    ids = _moved_by_sqs(sqs, source, ['{"a": 1}', '{"a": 2}'], receives=2)
    _letter(sqs, dlq, "invalid_json", "poison-1", "primary,secondary")
    # When they are resent for real
    report = resend(sqs, dlq, source, _options(failed_targets="secondary", send=True))
    # Then the two are in the source queue, bodies unchanged, carrying their source ids
    assert (report.selected, report.sent, report.not_selected) == (2, 2, 1)
    back = _all(sqs, source)
    assert sorted((m["Body"], _strings(m)["original_message_id"]) for m in back) == sorted(
        zip(['{"a": 1}', '{"a": 2}'], ids, strict=True)
    )
    assert {_strings(m)["failed_targets"] for m in back} == {"secondary"}
    # And only the poison letter is left in the DLQ, visible, untouched
    (left,) = _all(sqs, dlq)
    assert _strings(left)["reason"] == "invalid_json"


def test_without_targets_only_the_original_id_is_set(sqs: SQSClient) -> None:
    source, dlq = _queues(sqs)
    (source_id,) = _moved_by_sqs(sqs, source, ["{}"], receives=2)
    resend(sqs, dlq, source, _options(send=True))
    (back,) = _all(sqs, source)
    assert _strings(back) == {"original_message_id": source_id}


class _SendFailsFor:
    """moto's client, except that SendMessage of one body is refused."""

    def __init__(self, sqs: SQSClient, body: str) -> None:
        self._sqs = sqs
        self._body = body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message(self, **request: Any) -> Any:
        if request["MessageBody"] == self._body:
            error = {"Error": {"Code": "InvalidParameterValue", "Message": "too many"}}
            raise ClientError(error, "SendMessage")  # type: ignore[arg-type]
        return self._sqs.send_message(**request)


def test_a_message_whose_send_failed_stays_in_the_dlq_visible(sqs: SQSClient) -> None:
    source, dlq = _queues(sqs)
    _moved_by_sqs(sqs, source, ['{"ok": 1}', '{"refused": 1}'], receives=2)
    client = _SendFailsFor(sqs, '{"refused": 1}')
    report = resend(client, dlq, source, _options(send=True))  # type: ignore[arg-type]
    assert (report.sent, report.send_failures) == (1, 1)
    assert [m["Body"] for m in _all(sqs, source)] == ['{"ok": 1}']
    assert [m["Body"] for m in _all(sqs, dlq)] == ['{"refused": 1}']


def test_letters_of_one_reason_go_back_as_they_are(sqs: SQSClient) -> None:
    # Given the function's letters of two reasons and a record SQS moved
    source, dlq = _queues(sqs)
    _moved_by_sqs(sqs, source, ["{}"], receives=2)
    _letter(sqs, dlq, "receives_exhausted", "orig-1", "secondary")
    _letter(sqs, dlq, "value_too_long", "orig-2", "primary")
    # When only receives_exhausted is resent
    options = _options(selection=Selection("receives_exhausted"), send=True)
    report = resend(sqs, dlq, source, options)
    # Then it goes back with its own id and targets, and the others stay
    assert (report.sent, report.not_selected) == (1, 2)
    (back,) = _all(sqs, source)
    assert _strings(back) == {
        "reason": "receives_exhausted",
        "original_message_id": "orig-1",
        "failed_targets": "secondary",
    }
    assert len(_all(sqs, dlq)) == 2


def test_an_interrupted_resend_leaves_the_rest_visible(sqs: SQSClient) -> None:
    source, dlq = _queues(sqs)
    _moved_by_sqs(sqs, source, [json.dumps({"n": n}) for n in range(5)], receives=2)

    class _Interrupted(_SendFailsFor):
        def send_message(self, **request: Any) -> Any:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        resend(_Interrupted(sqs, ""), dlq, source, _options(send=True))  # type: ignore[arg-type]
    assert queue_counts(sqs, dlq) == (5, 0)


# ---------------------------------------------------------------------------- local stack


def _lambda_event(messages: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    """SQS API messages as the Lambda event source hands them to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
            }
            for m in messages
        ]
    }


def _poll_and_invoke(stack: Stack, source: str) -> tuple[list[str], list[str]]:
    """One poll of the source queue handed to the function, as the event source does: the
    records it returns are made visible again (as after their visibility timeout), the others
    deleted. Returns (ids received, ids returned)."""
    messages = stack.sqs.receive_message(
        QueueUrl=source,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return [], []
    try:
        returned = stack.invoke(_lambda_event(messages, _arn(stack.sqs, source)))
    except BatchNotProcessed:
        # Nothing progressed (the primary held them all, the secondary could not be asked):
        # the function fails the invocation, and the event source returns the whole batch.
        returned = [m["MessageId"] for m in messages]
    for message in messages:
        if message["MessageId"] in returned:
            stack.sqs.change_message_visibility(
                QueueUrl=source, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            stack.sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
    return [m["MessageId"] for m in messages], returned


@pytest.mark.parametrize("failed_targets", ["secondary", None])
def test_a_one_target_outage_that_sqs_moved_is_resent_once_to_the_target_lacking_it(
    stack: Stack, failed_targets: str | None
) -> None:
    # Given a source queue whose messages SQS moves to the function's DLQ after 2 receives, and
    # a function that does not dead-letter them itself first (SOURCE_MAX_RECEIVE_COUNT unset:
    # as when the invocation of the last receive was killed)
    policy = {"deadLetterTargetArn": _arn(stack.sqs, stack.dlq_url), "maxReceiveCount": "2"}
    source = stack.sqs.create_queue(
        QueueName=f"source-{uuid.uuid4().hex[:8]}",
        Attributes={"RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    stack.read_tables()
    stack.data_api.fail_parameterised(ADDRESS["secondary"])
    bodies = [json.dumps(payload(appsflyer_id=f"af-{n}")) for n in range(3)]
    ids = [stack.sqs.send_message(QueueUrl=source, MessageBody=b)["MessageId"] for b in bodies]
    # When the secondary refuses on both receives: the primary takes them, SQS then moves them
    for _ in range(2):
        received, returned = _poll_and_invoke(stack, source)
        assert sorted(received) == sorted(returned) == sorted(ids)
    assert _poll_and_invoke(stack, source) == ([], [])
    assert queue_counts(stack.sqs, stack.dlq_url) == (3, 0)
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert stack.counts("secondary") == {}
    # And, the secondary back, the helper resends them (a dry run first changes nothing)
    stack.data_api.clear_parameterised(ADDRESS["secondary"])
    dry = resend(stack.sqs, stack.dlq_url, source, _options(failed_targets=failed_targets))
    assert (dry.selected, dry.sent) == (3, 0)
    assert queue_counts(stack.sqs, stack.dlq_url) == (3, 0)
    report = resend(
        stack.sqs, stack.dlq_url, source, _options(failed_targets=failed_targets, send=True)
    )
    assert report.sent == 3
    assert queue_counts(stack.sqs, stack.dlq_url) == (0, 0)
    received, returned = _poll_and_invoke(stack, source)
    # Then each record is once in the target that lacked it, and still once where it was held
    assert len(received) == 3
    assert returned == []
    assert not set(received) & set(ids)  # resent under new message ids ...
    assert stack.counts("secondary") == dict.fromkeys(ids, 1)  # ... stored under the original
    assert stack.counts("primary") == dict.fromkeys(ids, 1)
    assert queue_counts(stack.sqs, stack.dlq_url) == (0, 0)
