"""The local Data API on a real PostgreSQL, started once per pytest run for every suite.

For example::

    def test_something(data_api: LocalDataApi) -> None:
        data_api.declare_target("primary", "cluster", databases=("dev",))
        data_api.execute_ddl("primary", "dev", Path("sql/create_table.sql").read_text())
        client = data_api.client()  # or boto3.client("redshift-data"): the env points here
        ...
        with data_api.connect("primary", "dev") as conn:
            assert conn.execute("SELECT count(*) FROM appsflyer_events").fetchone() == (1,)

tests/integration and tests/emulator override `data_api` to declare the targets they use.
LOCAL_DATA_API_BIND_MODE=shared runs everything with a parameter used twice bound once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from local.model import FAST, ServiceConfig
from local.stack import LocalDataApi
from local.translate import BIND_MODES, BindMode

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

BIND_MODE_ENV = "LOCAL_DATA_API_BIND_MODE"


def configured_bind_mode() -> BindMode:
    value = os.environ.get(BIND_MODE_ENV) or "per-occurrence"
    for mode in BIND_MODES:
        if value == mode:
            return mode
    raise pytest.UsageError(f"{BIND_MODE_ENV} must be one of {BIND_MODES}, not {value!r}")


@pytest.fixture(scope="session")
def local_data_api() -> Iterator[LocalDataApi]:
    """PostgreSQL and the Data API server, started once; prefer `data_api`, which resets it."""
    config = ServiceConfig(bind_mode=configured_bind_mode())
    with LocalDataApi(model=FAST, config=config) as api:
        yield api


@pytest.fixture
def data_api(local_data_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch) -> LocalDataApi:
    """The local Data API with nothing left from earlier tests.

    Every database is dropped and every target forgotten (declare the ones a test uses), faults,
    throttles and counters are cleared, and every cluster gets the FAST model (no slots, rate
    ceiling or latency; quota 500) until the test sets another. The SDK's
    AWS_ENDPOINT_URL_REDSHIFT_DATA points at the server, with dummy credentials.
    """
    local_data_api.reset(FAST)
    monkeypatch.setenv("AWS_ENDPOINT_URL_REDSHIFT_DATA", local_data_api.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return local_data_api


@pytest.fixture
def redshift_data(data_api: LocalDataApi) -> RedshiftDataAPIServiceClient:
    """A boto3 redshift-data client on the local endpoint, without retries (errors surface)."""
    return data_api.client()
