"""The emulator's own tests: the targets they name, on the session's local Data API."""

from __future__ import annotations

import pytest

from local.stack import LocalDataApi


@pytest.fixture
def data_api(data_api: LocalDataApi) -> LocalDataApi:
    """The reset local Data API with the emulator tests' targets: cluster "primary" (databases
    dev and analytics), cluster "other" and workgroup "serverless" (dev)."""
    data_api.declare_target("primary", "cluster", databases=("dev", "analytics"))
    data_api.declare_target("other", "cluster", databases=("dev",))
    data_api.declare_target("serverless", "workgroup", databases=("dev",))
    return data_api
