"""Calls the emulator's tests share: submit and wait, submit at once, read an error, build
parameters, read a Redshift error's DETAIL block."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_redshift_data.type_defs import SqlParameterTypeDef

    from local.stack import LocalDataApi

CLUSTER: dict[str, Any] = {"ClusterIdentifier": "primary", "DbUser": "awsuser", "Database": "dev"}
TERMINAL = {"FINISHED", "FAILED", "ABORTED"}


def wait_for(
    client: RedshiftDataAPIServiceClient, statement_id: str, statuses: set[str], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = dict(client.describe_statement(Id=statement_id))
        if described["Status"] in statuses:
            return described
        assert time.monotonic() < deadline, f"still {described['Status']}, wanted {statuses}"
        time.sleep(0.01)


def run(
    client: RedshiftDataAPIServiceClient, sql: str, target: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """Submit and wait until the statement ends; returns DescribeStatement."""
    response = client.execute_statement(Sql=sql, **(target or CLUSTER), **kw)
    return wait_for(client, response["Id"], TERMINAL)


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def first_line(error: str) -> str:
    return error.split("\n", 1)[0]


def detail_fields(error: str) -> dict[str, str]:
    """The fields of the DETAIL block of a Redshift error ("error", "code", "context", "query",
    "location", "process"); {} when it has none. Checks the block's frame on the way."""
    head, sep, detail = error.partition("\n  Detail: ")
    if not sep or not detail.startswith("\n  ---"):
        return {}
    lines = detail.split("\n")
    rule = "  " + "-" * 47
    assert lines[1] == rule, lines
    assert lines[-2:] == [rule, ""], lines
    fields: dict[str, str] = {}
    for line in lines[2:-2]:
        key, _, value = line.lstrip(" ").partition(":")
        fields[key] = value.lstrip(" ")
    assert list(fields) == ["error", "code", "context", "query", "location", "process"], fields
    assert head == f"ERROR: {fields['error']}"
    return fields


def params(**values: str) -> list[SqlParameterTypeDef]:
    return [{"name": name, "value": value} for name, value in values.items()]


def submit_at_once(data_api: LocalDataApi, count: int) -> list[str]:
    """`count` ExecuteStatement calls at the same moment, each from its own client (boto3 builds
    clients unsafely in threads); each call's outcome: "ok" or the error code it got."""
    outcomes: list[str] = []
    lock = threading.Lock()
    clients = [data_api.client() for _ in range(count)]

    def submit(client: RedshiftDataAPIServiceClient) -> None:
        try:
            client.execute_statement(Sql="SELECT 1", **CLUSTER)
            outcome = "ok"
        except ClientError as exc:
            outcome = exc.response["Error"]["Code"]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


Expected = str | tuple[str, str, str]


def assert_error(error: str, expected: Expected) -> None:
    """`expected`: the whole Error, or (first line, code, context) of one with a DETAIL block."""
    if isinstance(expected, str):
        assert error == expected
        return
    fields = detail_fields(error)
    assert (first_line(error), fields.get("code"), fields.get("context")) == expected, error
