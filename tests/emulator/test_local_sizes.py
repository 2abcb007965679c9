"""Submits refused for their size: the request-size limit (HTTP 413, no `__type`) and
refuse_size_next (a ValidationException of a given wording, or a 413), through boto3.

What botocore makes of a 413 whose body has no `__type` (botocore 1.4x, JSON protocol): a
ClientError (not a modelled exception) whose Error.Code is the status as a string, "413", and
whose Error.Message is the body's "message" ("Request Entity Too Large"), or the whole body when
it is not JSON (an HTML page); ResponseMetadata.HTTPStatusCode is 413, and botocore's standard
retry mode does not retry it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from local.errors import QUERY_TOO_LARGE, REQUEST_TOO_LARGE, SIZE_WORDINGS
from local.server import parse_args
from tests.emulator.helpers import CLUSTER, params, run

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

    from local.stack import LocalDataApi

pytestmark = pytest.mark.integration

OTHER: dict[str, Any] = {**CLUSTER, "ClusterIdentifier": "other"}


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response)


# ---- the request-size limit ------------------------------------------------------------------


def test_a_request_over_the_limit_is_a_413_that_boto3_names_by_its_status(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_max_request_bytes(400)
    assert "Id" in redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER)
    big = "SELECT '" + "x" * 400 + "'"
    response = refusal(lambda: redshift_data.execute_statement(Sql=big, **CLUSTER))
    assert response["Error"] == {"Code": "413", "Message": REQUEST_TOO_LARGE}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # BatchExecuteStatement too; nothing was created, and the refusals were counted.
    response = refusal(lambda: redshift_data.batch_execute_statement(Sqls=[big], **CLUSTER))
    assert response["Error"]["Code"] == "413"
    assert len(redshift_data.list_statements()["Statements"]) == 1
    assert data_api.api_calls()["ExecuteStatement"] == 2


def test_the_limit_counts_the_whole_request_body(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_max_request_bytes(600)
    # The SQL is small; its parameters (names, values, JSON) make the body too large.
    many = params(**{f"p{i}": "value" for i in range(30)})
    sql = "SELECT " + ", ".join(f":p{i}" for i in range(30))
    response = refusal(lambda: redshift_data.execute_statement(Sql=sql, Parameters=many, **CLUSTER))
    assert response["Error"]["Code"] == "413"
    # Other operations are not limited.
    assert "Statements" in redshift_data.list_statements(StatementName="x" * 500)


def test_the_limit_can_answer_with_a_proxys_html_page(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.set_max_request_bytes(100, html=True)
    response = refusal(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))
    assert response["Error"]["Code"] == "413"
    assert response["Error"]["Message"].startswith("<html>")
    assert "413 Request Entity Too Large" in response["Error"]["Message"]


def test_the_limit_is_off_by_default_and_after_reset(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    assert data_api.service.max_request_bytes is None
    data_api.set_max_request_bytes(10)
    data_api.reset()
    data_api.declare_target("primary", "cluster")
    assert run(redshift_data, "SELECT '" + "x" * 50_000 + "'")["Status"] == "FINISHED"
    with pytest.raises(ValueError, match="at least"):
        data_api.set_max_request_bytes(0)


def test_the_server_takes_the_limit_as_a_flag() -> None:
    args = parse_args(["--cluster", "primary", "--max-request-bytes", "5000"])
    assert args.max_request_bytes == 5000
    assert parse_args(["--cluster", "primary"]).max_request_bytes is None


# ---- refuse_size_next ------------------------------------------------------------------------


def test_refused_for_its_size_with_the_documented_wording(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.refuse_size_next("primary", 2)
    for call in (
        lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER),
        lambda: redshift_data.batch_execute_statement(Sqls=["SELECT 1"], **CLUSTER),
    ):
        response = refusal(call)
        assert response["Error"] == {"Code": "ValidationException", "Message": QUERY_TOO_LARGE}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # Twice, for this target only; nothing was created.
    assert redshift_data.list_statements()["Statements"] == []
    assert run(redshift_data, "SELECT 1")["Status"] == "FINISHED"


@pytest.mark.parametrize("wording", SIZE_WORDINGS)
def test_refused_for_its_size_in_other_words(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient, wording: str
) -> None:
    data_api.refuse_size_next("primary", wording=wording)
    assert run(redshift_data, "SELECT 1", OTHER)["Status"] == "FINISHED"
    response = refusal(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))
    assert response["Error"] == {"Code": "ValidationException", "Message": wording}


def test_refused_for_its_size_with_a_413(
    data_api: LocalDataApi, redshift_data: RedshiftDataAPIServiceClient
) -> None:
    data_api.refuse_size_next("primary", status=413)
    data_api.refuse_size_next("primary", status=413, wording="Request Too Long", html=True)
    response = refusal(lambda: redshift_data.execute_statement(Sql="SELECT 1", **CLUSTER))
    assert response["Error"] == {"Code": "413", "Message": REQUEST_TOO_LARGE}
    response = refusal(lambda: redshift_data.batch_execute_statement(Sqls=["SELECT 1"], **CLUSTER))
    assert response["Error"]["Code"] == "413"
    assert "413 Request Too Long" in response["Error"]["Message"]
    with pytest.raises(ValueError, match="status"):
        data_api.refuse_size_next("primary", status=500)
