"""The runbook's commands, run for real: the DLQ export against moto's SQS, the archive's move
task against the SQS service model, and the duplicate removal on PostgreSQL behind the local
Data API."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from local.stack import LocalDataApi
from scripts import dlq_export
from scripts.dlq_export import archive, export, queue_counts

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

REPO = Path(__file__).resolve().parents[2]
DEDUPLICATE_SQL = REPO / "sql" / "remove_duplicate_rows.sql"
RUNBOOK = REPO / "docs" / "runbook.md"


# ---------------------------------------------------------------------------- DLQ export


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


def _dead_letters(sqs: SQSClient, count: int) -> str:
    """A DLQ holding `count` messages shaped like the function's dead letters."""
    url = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
    for n in range(count):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"appsflyer_id": f"id-{n}", "event_name": "install"}),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": "value_too_long"},
                "original_message_id": {"DataType": "String", "StringValue": f"orig-{n}"},
                "failed_targets": {"DataType": "String", "StringValue": "secondary"},
            },
        )
    return url


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


class _HoldExpiresOnce:
    """moto's client, except that before the second receive the messages the first receive
    returned become visible again, as when an export's hold runs out mid-way."""

    def __init__(self, sqs: SQSClient) -> None:
        self._sqs = sqs
        self._first: list[dict[str, Any]] | None = None
        self.receive_requests: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def receive_message(self, **request: Any) -> Any:
        self.receive_requests.append(request)
        if self._first is not None:
            for message in self._first:
                self._sqs.change_message_visibility(
                    QueueUrl=request["QueueUrl"],
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            self._first = []
        reply = self._sqs.receive_message(**request)
        if self._first is None:
            self._first = [dict(message) for message in reply.get("Messages", [])]
        return reply


def test_export_keeps_the_messages_writes_each_once_and_compares_counts(sqs: SQSClient) -> None:
    # Given a DLQ of 25 messages, and a hold that runs out once during the export
    url = _dead_letters(sqs, 25)
    client = _HoldExpiresOnce(sqs)
    out = io.StringIO()
    # When the export runs without --delete
    report = export(client, url, out, wait_seconds=1, settled_checks=2)  # type: ignore[arg-type]
    # Then every message is in the file exactly once, with the attributes a redrive needs
    lines = _lines(out.getvalue())
    assert len(lines) == report.written == 25
    assert len({line["MessageId"] for line in lines}) == 25
    assert report.duplicates_skipped >= 1  # the expired hold delivered some twice
    assert report.complete
    assert {line["MessageAttributes"]["reason"]["StringValue"] for line in lines} == {
        "value_too_long"
    }
    assert sorted(
        line["MessageAttributes"]["original_message_id"]["StringValue"] for line in lines
    ) == sorted(f"orig-{n}" for n in range(25))
    # And every receive long-polled and hid what it read
    assert all(r["WaitTimeSeconds"] == 1 for r in client.receive_requests)
    assert all(r["VisibilityTimeout"] == 3600 for r in client.receive_requests)
    # And the queue holds all 25 again, visible, for the redrive or archive that follows
    assert queue_counts(sqs, url) == (25, 0)
    assert report.deleted == 0


def test_export_with_delete_empties_the_queue_only_through_the_file(
    sqs: SQSClient, tmp_path: Path
) -> None:
    url = _dead_letters(sqs, 13)
    path = tmp_path / "dlq.jsonl"
    with path.open("x", encoding="utf-8") as out:
        report = export(sqs, url, out, delete=True, wait_seconds=1, settled_checks=2)
    lines = _lines(path.read_text(encoding="utf-8"))
    assert len(lines) == report.written == report.deleted == 13
    assert queue_counts(sqs, url) == (0, 0)
    assert report.summary().startswith("queue held about 13 messages at the start; wrote 13")


def test_export_does_not_stop_while_another_reader_holds_messages(sqs: SQSClient) -> None:
    # Given 3 messages another reader holds for 2 s (visible 0, in flight 3)
    url = _dead_letters(sqs, 3)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2)
    assert queue_counts(sqs, url) == (0, 3)
    out = io.StringIO()
    # When the export runs (a short poll-and-stop loop would find nothing and quit)
    report = export(sqs, url, out, delete=True, wait_seconds=1, settled_checks=2)
    # Then it waited for them to come back and exported them
    assert report.written == 3
    assert queue_counts(sqs, url) == (0, 0)


def test_export_command_refuses_to_overwrite_and_reports_counts(
    sqs: SQSClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _dead_letters(sqs, 4)
    target = tmp_path / "export.jsonl"
    code = dlq_export.main(
        ["export", "--queue-url", url, "--out", str(target), "--wait-seconds", "1"]
    )
    assert code == 0
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4
    assert "wrote 4 distinct messages" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        dlq_export.main(["export", "--queue-url", url, "--out", str(target)])


# ---------------------------------------------------------------------------- archive


def test_moto_has_no_message_move_task_so_the_archive_is_checked_against_the_model(
    sqs: SQSClient,
) -> None:
    # If moto learns StartMessageMoveTask, run the archive against it instead of a Stubber.
    url = _dead_letters(sqs, 1)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    with pytest.raises(NotImplementedError, match="start_message_move_task"):
        sqs.start_message_move_task(SourceArn=arn)


def test_archive_moves_with_a_task_and_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("sqs", region_name="us-east-1")
    dlq = "arn:aws:sqs:us-east-1:123456789012:ingest-dlq"
    archive_arn = "arn:aws:sqs:us-east-1:123456789012:ingest-archive"
    # The Stubber checks each request against SQS's own service model.
    with Stubber(client) as stub:
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "handle-1"},
            {"SourceArn": dlq, "DestinationArn": archive_arn, "MaxNumberOfMessagesPerSecond": 50},
        )
        for status in ("RUNNING", "COMPLETED"):
            stub.add_response(
                "list_message_move_tasks",
                {
                    "Results": [
                        {
                            "TaskHandle": "handle-1",
                            "Status": status,
                            "SourceArn": dlq,
                            "DestinationArn": archive_arn,
                            "ApproximateNumberOfMessagesMoved": 7,
                            "ApproximateNumberOfMessagesToMove": 7,
                        }
                    ]
                },
                {"SourceArn": dlq, "MaxResults": 10},
            )
        waits: list[float] = []
        task = archive(client, dlq, archive_arn, rate=50, sleep=waits.append)
        stub.assert_no_pending_responses()
    assert task["Status"] == "COMPLETED"
    assert waits == [10.0]  # polled once while RUNNING


def test_runbook_archives_with_a_move_task_and_never_purges() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    assert "purge-queue" not in text
    assert "scripts/dlq_export.py archive" in text
    assert "start-message-move-task" in text


# ---------------------------------------------------------------------------- duplicate rows


def _statements(path: Path) -> list[str]:
    """The file's statements, comments dropped, in order."""
    text = "\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("--")
    )
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def _insert(conn: Any, message_id: str, ingested_at: str, appsflyer_id: str = "af-1") -> None:
    conn.execute(
        "INSERT INTO public.appsflyer_events"
        " (appsflyer_id, event_name, event_time, sqs_message_id, ingested_at)"
        " VALUES (%s, 'install', now() - interval '1 day', %s, %s)",
        (appsflyer_id, message_id, ingested_at),
    )


def _wait(client: Any, statement_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = client.describe_statement(Id=statement_id)
        if described["Status"] in {"FINISHED", "FAILED", "ABORTED"}:
            return described
        time.sleep(0.05)
    raise AssertionError(f"statement {statement_id} did not end")


def test_duplicate_removal_keeps_the_first_copy_of_each_message(data_api: LocalDataApi) -> None:
    # Given a table with duplicates: later copies, same-second copies, and a message held once
    data_api.execute_ddl(
        "primary-cluster", "dev", (REPO / "sql" / "create_table.sql").read_text(encoding="utf-8")
    )
    with data_api.connect("primary-cluster", "dev") as conn:
        _insert(conn, "m-later", "2026-01-01 10:00:00", "first")
        _insert(conn, "m-later", "2026-01-01 10:05:00", "second")
        _insert(conn, "m-later", "2026-01-01 11:00:00", "third")
        _insert(conn, "m-tie", "2026-01-01 10:00:00")
        _insert(conn, "m-tie", "2026-01-01 10:00:00")
        _insert(conn, "m-once", "2026-01-01 09:00:00")
        conn.commit()
    # When the runbook's SQL runs as one transaction through the Data API
    client = data_api.client()
    submitted = client.batch_execute_statement(
        ClusterIdentifier="primary-cluster",
        Database="dev",
        DbUser="awsuser",
        Sqls=_statements(DEDUPLICATE_SQL),
    )
    described = _wait(client, submitted["Id"])
    assert described["Status"] == "FINISHED", described.get("Error")
    # Then one row per message id remains: the earliest, with its ingested_at unchanged
    with data_api.connect("primary-cluster", "dev") as conn:
        rows = conn.execute(
            "SELECT sqs_message_id, appsflyer_id, ingested_at::text"
            " FROM public.appsflyer_events ORDER BY sqs_message_id"
        ).fetchall()
    assert rows == [
        ("m-later", "first", "2026-01-01 10:00:00"),
        ("m-once", "af-1", "2026-01-01 09:00:00"),
        ("m-tie", "af-1", "2026-01-01 10:00:00"),
    ]


def test_duplicate_removal_is_a_no_op_without_duplicates(data_api: LocalDataApi) -> None:
    data_api.execute_ddl(
        "primary-cluster", "dev", (REPO / "sql" / "create_table.sql").read_text(encoding="utf-8")
    )
    with data_api.connect("primary-cluster", "dev") as conn:
        _insert(conn, "a", "2026-01-01 10:00:00")
        _insert(conn, "b", "2026-01-01 10:00:00")
        conn.commit()
    client = data_api.client()
    submitted = client.batch_execute_statement(
        ClusterIdentifier="primary-cluster",
        Database="dev",
        DbUser="awsuser",
        Sqls=_statements(DEDUPLICATE_SQL),
    )
    assert _wait(client, submitted["Id"])["Status"] == "FINISHED"
    with data_api.connect("primary-cluster", "dev") as conn:
        assert conn.execute("SELECT count(*) FROM public.appsflyer_events").fetchone() == (2,)


# ---------------------------------------------------------------------------- the text


def _commands(text: str) -> list[str]:
    """Every shell command in the runbook's code blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]


def test_every_receive_in_the_runbook_long_polls() -> None:
    receives = [c for c in _commands(RUNBOOK.read_text(encoding="utf-8")) if "receive-message" in c]
    assert receives
    assert all("--wait-time-seconds 20" in command for command in receives)


def test_no_step_relies_on_listing_statements_from_an_operators_role() -> None:
    # ListStatements lists only the caller's own role's statements, finished ones by default.
    commands = _commands(RUNBOOK.read_text(encoding="utf-8"))
    assert not [c for c in commands if "list-statements" in c]
    assert "describe-statement --id" in RUNBOOK.read_text(encoding="utf-8")
    assert "sys_query_history" in RUNBOOK.read_text(encoding="utf-8")


def test_every_alarm_links_to_a_runbook_section() -> None:
    template = (REPO / "template.yaml").read_text(encoding="utf-8")
    linked = set(re.findall(r"docs/runbook\.md#([a-z]+)", template))
    anchors = set(re.findall(r'<a id="([a-z-]+)"></a>', RUNBOOK.read_text(encoding="utf-8")))
    assert linked
    assert sorted(linked - anchors) == []


def test_a_deleted_queue_is_not_said_to_come_back_on_a_redeploy() -> None:
    text = " ".join(RUNBOOK.read_text(encoding="utf-8").split())
    assert "redeploy re-creates" not in text
    assert "A redeploy does **not** re-create it" in text
