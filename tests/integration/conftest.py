"""The handler's targets on the session's local Data API (see tests/conftest.py)."""

from __future__ import annotations

import pytest

from local.stack import LocalDataApi

# The cluster and workgroup the handler's tests, the demo and the tests' REDSHIFT_TARGETS name.
PRIMARY_CLUSTER = "primary-cluster"
SECONDARY_WORKGROUP = "secondary-wg"


@pytest.fixture
def data_api(data_api: LocalDataApi) -> LocalDataApi:
    """The reset local Data API, serving primary-cluster and secondary-wg (database dev)."""
    data_api.declare_target(PRIMARY_CLUSTER, "cluster", databases=("dev",))
    data_api.declare_target(SECONDARY_WORKGROUP, "workgroup", databases=("dev",))
    return data_api
