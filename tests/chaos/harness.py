"""Seeded chaos: random faults over many redelivery rounds, then every record accounted for.

SQS is moto's (a real queue: receive counts, visibility), the targets are two PostgreSQL
databases behind the local Data API, and the function is built by its own composition root.
Each round receives a batch, injects at most one fault, runs the batch, and answers SQS as
Lambda would (delete what succeeded, make the rest visible again) unless the fault is a kill,
in which case nothing is answered and the whole batch comes back.
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ingest.batch import NothingProgressed
from ingest.config import load_settings
from ingest.wiring import Clients, ClientTimeouts, Timing, build_ingest, deadlines_for
from local.stack import LocalDataApi
from tests.support import payload

TABLE_DDL_NARROW_CITY = "ALTER TABLE public.appsflyer_events ALTER COLUMN city TYPE VARCHAR(8)"
# A value the primary's database refuses though its catalog allows it (the local Data API's
# refuse_values): only bisection can find the row.
REFUSED_CITY = "Zagreb"
REFUSED_ERROR = "ERROR: value too long for type character varying(8)"
TARGETS = (
    {"name": "primary", "database": "dev", "cluster_identifier": "chaos-cluster", "db_user": "u"},
    {"name": "secondary", "database": "dev", "workgroup_name": "chaos-wg"},
)
ADDRESS = {"primary": "chaos-cluster", "secondary": "chaos-wg"}
# Short timeouts keep rounds quick; the deadline logic is the same as with the defaults.
TIMEOUTS = ClientTimeouts(connect=0.5, control_read=1.0, submit_read_extra=1.0, sqs_read=1.0)
SOURCE_MAX_RECEIVE_COUNT = 10  # the template's default MaxReceiveCount
REMAINING_SECONDS = 13.0  # work deadline 4 s: margin 1, cancels 4, dead letters 4

SUBMITS = ("ExecuteStatement", "BatchExecuteStatement")
CHAOS_STATEMENT_BYTES = 3_000  # two or three of the chaos records per INSERT
SERVER_FAULTS = (
    "InternalServerException",
    "ExecuteStatementException",
    "DatabaseConnectionException",
    "ActiveSessionsExceededException",
)
FAULTS = (
    "quota",
    "throttle",
    "lost_reply",
    "server_fault",
    "hang",
    "slow_reply",
    "failed_cancel",
    "slow_cancel",
    "describe_error",
    "dead_letter_failure",
    "kill",
    "kill_after_commit",
)


class Killed(BaseException):
    """Lambda stopping the invocation: nothing in the function catches it."""


class FlakySqs:
    """moto's SQS client, whose next SendMessageBatch can be made to fail, or to be the moment
    the invocation is killed (after its statements committed, before any letter is sent)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.fail_next_send = False
        self.kill_at_next_send = False

    def send_message_batch(self, **request: Any) -> Any:
        if self.kill_at_next_send:
            raise Killed
        if self.fail_next_send:
            self.fail_next_send = False
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "Send")
        return self._client.send_message_batch(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class ChaosReport:
    seed: int
    records: int = 0
    rounds: int = 0
    deliveries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    dead_lettered: dict[str, str] = field(default_factory=dict)  # record id -> reason
    duplicates: dict[str, int] = field(default_factory=dict)  # "target:id" -> rows
    lost: list[str] = field(default_factory=list)
    left_in_queue: int = 0
    transactions: int = 0  # BatchExecuteStatement calls: the multi-INSERT path was exercised

    @property
    def ok(self) -> bool:
        return not self.duplicates and not self.lost and self.left_in_queue == 0

    def line(self) -> str:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        return (
            f"seed {self.seed}: {self.rounds} rounds, {self.deliveries} deliveries, "
            f"{self.records} records, {len(self.dead_lettered)} dead-lettered, "
            f"{len(self.duplicates)} duplicated, {len(self.lost)} lost, "
            f"{self.left_in_queue} left in the queue, {self.transactions} BatchExecuteStatement "
            f"calls; faults: {faults or 'none'}"
        )


class ChaosRun:
    def __init__(
        self,
        api: LocalDataApi,
        sqs_endpoint: str,
        *,
        seed: int,
        records: int = 40,
        batch_size: int = 10,
        fault_rounds: int = 12,
        fault_rate: float = 0.7,
    ) -> None:
        self._api = api
        self._rng = random.Random(seed)
        self._report = ChaosReport(seed)
        self._records = records
        self._batch_size = batch_size
        self._fault_rounds = fault_rounds
        self._fault_rate = fault_rate
        self._sqs = boto3.client("sqs", endpoint_url=sqs_endpoint)
        suffix = uuid.uuid4().hex[:8]
        self._queue = self._sqs.create_queue(
            QueueName=f"chaos-{suffix}", Attributes={"VisibilityTimeout": "300"}
        )["QueueUrl"]
        self._dlq = self._sqs.create_queue(QueueName=f"chaos-dlq-{suffix}")["QueueUrl"]
        self._queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=self._queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._flaky = FlakySqs(boto3.client("sqs", endpoint_url=sqs_endpoint))
        settings = load_settings(
            {
                "REDSHIFT_TARGETS": json.dumps(TARGETS),
                "TARGET_TABLE": "public.appsflyer_events",
                "DEAD_LETTER_QUEUE_URL": self._dlq,
                "STATEMENT_WAIT_SECONDS": "1",
                "MAX_TRANSIENT_RETRIES": "2",
                "DEADLINE_MARGIN_SECONDS": "1",
                # The queue has no redrive policy (SQS never moves a record): the function's
                # own last-receive letter is what ends a record that keeps failing, and the
                # verdict checks it like any letter (absent from the targets it names).
                "SOURCE_MAX_RECEIVE_COUNT": str(SOURCE_MAX_RECEIVE_COUNT),
                "AWS_LAMBDA_FUNCTION_NAME": f"chaos-{suffix}",
            }
        )
        # Small INSERTs (below the setting's own floor, so set past it): a batch of ten records
        # is a transaction of several, and the faults meet BatchExecuteStatement as well as
        # ExecuteStatement (catalog reads, presence checks, single INSERTs while bisecting).
        settings = dataclasses.replace(settings, statement_max_bytes=CHAOS_STATEMENT_BYTES)
        redshift = self._redshift_client(settings.statement_wait_seconds)
        control = self._redshift_client(0)
        self._ingest = build_ingest(
            settings,
            Clients(redshift, control, self._flaky),  # type: ignore[arg-type]
            Timing(seed=seed),
            TIMEOUTS,
        )

    def _redshift_client(self, wait_seconds: int) -> Any:
        read = (
            TIMEOUTS.control_read if not wait_seconds else wait_seconds + TIMEOUTS.submit_read_extra
        )
        return boto3.client(
            "redshift-data",
            endpoint_url=self._api.endpoint_url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=TIMEOUTS.connect,
                read_timeout=read,
            ),
        )

    # ---- the run ----------------------------------------------------------------------------

    def run(self) -> ChaosReport:
        sent = self._send_records()
        self._report.records = len(sent)
        # Fault rounds first, then clean rounds until the queue is empty (bounded).
        for round_number in range(self._fault_rounds + 4 * self._records):
            batch = self._receive()
            if not batch:
                if self._queue_is_empty():
                    break
                continue
            faulty = round_number < self._fault_rounds and self._rng.random() < self._fault_rate
            self._round(batch, self._rng.choice(FAULTS) if faulty else None)
        self._report.left_in_queue = self._visible_or_in_flight()
        self._report.transactions = self._api.api_calls().get("BatchExecuteStatement", 0)
        self._account(sent)
        return self._report

    def _refuse_on_primary(self) -> None:
        self._api.refuse_values(ADDRESS["primary"], REFUSED_CITY, REFUSED_ERROR)

    def _send_records(self) -> dict[str, str]:
        """message id -> body. A few records are bad (dead-lettered by validation), one is too
        long for the secondary's narrowed city column (the secondary's table refuses it, the
        primary takes it), one the primary's database refuses (found there by bisection, the
        secondary takes it)."""
        for address in ADDRESS.values():
            self._api.execute_ddl(address, "dev", _ddl())
        with self._api.connect(ADDRESS["secondary"], "dev") as conn:
            conn.execute(TABLE_DDL_NARROW_CITY)
        self._refuse_on_primary()
        sent: dict[str, str] = {}
        for index in range(self._records):
            if index % 13 == 5:
                body = "{broken json"
            elif index == 7:
                body = json.dumps(payload(city="Rio de Janeiro", customer_user_id=f"c{index}"))
            elif index == 9:
                body = json.dumps(payload(city=REFUSED_CITY, customer_user_id=f"c{index}"))
            else:
                body = json.dumps(payload(customer_user_id=f"c{index}", city="Ulm"))
            message_id = self._sqs.send_message(QueueUrl=self._queue, MessageBody=body)["MessageId"]
            sent[message_id] = body
        return sent

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(  # type: ignore[assignment]
            QueueUrl=self._queue,
            MaxNumberOfMessages=self._batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _round(self, batch: list[dict[str, Any]], fault: str | None) -> None:
        self._report.rounds += 1
        self._report.deliveries += len(batch)
        if fault is not None:
            self._report.faults[fault] += 1
            self._inject(fault)
        event = {"Records": [_lambda_record(m, self._queue_arn) for m in batch]}
        ingest = self._ingest
        deadlines = deadlines_for(ingest.settings, REMAINING_SECONDS, Timing(), TIMEOUTS)
        killed = fault == "kill"
        try:
            retried = set(ingest.process(event, deadlines).returned)
        except NothingProgressed:
            retried = {m["MessageId"] for m in batch}
        except Killed:
            killed, retried = True, set()
        finally:
            self._api.service.faults.clear()
            self._refuse_on_primary()
            self._flaky.fail_next_send = self._flaky.kill_at_next_send = False
        for message in batch:
            handle = message["ReceiptHandle"]
            try:
                if killed or message["MessageId"] in retried:
                    # Killed (SQS never hears back) or handed back: visible again at once.
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue, ReceiptHandle=handle, VisibilityTimeout=0
                    )
                else:
                    self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=handle)
            except ClientError as exc:
                # The function deletes a record itself once its dead letter is sent.
                if exc.response["Error"]["Code"] != "ReceiptHandleIsInvalid":
                    raise

    def _inject(self, fault: str) -> None:
        address = ADDRESS[self._rng.choice(list(ADDRESS))]
        faults = self._api.service.faults
        count = self._rng.randint(1, 3)
        match fault:
            case "quota":
                faults.reject_next(address, count)
            case "throttle":
                faults.reject_next(address, count, "ThrottlingException")
            case "lost_reply":
                faults.lose_reply_next(address, count, self._rng.choice(SUBMITS))
            case "server_fault":
                operation = self._rng.choice(SUBMITS)
                code = self._rng.choice(SERVER_FAULTS)
                if code == "ExecuteStatementException" and operation != "ExecuteStatement":
                    code = "BatchExecuteStatementException"
                faults.server_fault_next(address, 1, code, operation)
            case "hang":
                faults.hang_next(address, 1)
            case "slow_reply":
                faults.delay_reply_next("DescribeStatement", 2.0, 1, address)
            case "failed_cancel":
                faults.hang_next(address, 1)
                faults.fail_cancel_next(address, count)
            case "slow_cancel":
                faults.hang_next(address, 1)
                faults.slow_cancel_next(address, 1, 1.0, self._rng.choice(["ABORTED", "FINISHED"]))
            case "describe_error":
                faults.fail_describe_next(count)
            case "dead_letter_failure":
                self._flaky.fail_next_send = True
            case "kill":
                pass  # applied when SQS would have been answered
            case "kill_after_commit":
                self._flaky.kill_at_next_send = True  # else, with no letter, killed at the end

    def _queue_is_empty(self) -> bool:
        return self._visible_or_in_flight() == 0

    def _visible_or_in_flight(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    # ---- the verdict --------------------------------------------------------------------------

    def _account(self, sent: dict[str, str]) -> None:
        letters = self._dead_letters()
        rows = {name: self._rows(address) for name, address in ADDRESS.items()}
        for target, counts in rows.items():
            for record_id, count in counts.items():
                if count > 1:
                    self._report.duplicates[f"{target}:{record_id}"] = count
        for record_id in sent:
            copies = letters.get(record_id, [])
            if len(copies) > 1:
                self._report.duplicates[f"dlq:{record_id}"] = len(copies)
            lacking = set(copies[0][1]) if copies else set()
            expected = {t: 0 if t in lacking else 1 for t in ADDRESS}
            # A last-receive letter names the targets not known to hold the record: one whose
            # statement could not be confirmed may hold it (its redrive asks before writing).
            most = dict(expected)
            if copies and copies[0][0] == "receives_exhausted":
                most = dict.fromkeys(ADDRESS, 1)
            if copies:
                self._report.dead_lettered[record_id] = copies[0][0]
            if any(rows[t].get(record_id, 0) < expected[t] for t in ADDRESS):
                self._report.lost.append(record_id)
            if copies and any(rows[t].get(record_id, 0) > most[t] for t in ADDRESS):
                self._report.duplicates[f"letter-and-row:{record_id}"] = 1

    def _dead_letters(self) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
        letters: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return letters
            for message in messages:
                attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
                letters.setdefault(attributes["original_message_id"], []).append(
                    (attributes["reason"], tuple(attributes.get("failed_targets", "").split(",")))
                )
                self._sqs.delete_message(QueueUrl=self._dlq, ReceiptHandle=message["ReceiptHandle"])

    def _rows(self, address: str) -> dict[str, int]:
        with self._api.connect(address, "dev") as conn:
            found = conn.execute(
                "SELECT sqs_message_id, count(*) FROM public.appsflyer_events GROUP BY 1"
            ).fetchall()
        return {str(record_id): int(count) for record_id, count in found}


def _ddl() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "sql" / "create_table.sql").read_text()


def _lambda_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """An SQS API message as the Lambda event source hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
    }
