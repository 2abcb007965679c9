"""Calls the emulator's tests share: submit and wait, read an error, build parameters."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient
    from mypy_boto3_redshift_data.type_defs import SqlParameterTypeDef

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


def params(**values: str) -> list[SqlParameterTypeDef]:
    return [{"name": name, "value": value} for name, value in values.items()]
