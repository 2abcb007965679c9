"""Unit tests run offline: sockets are off, AWS credentials are dummies."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket, enable_socket


def pytest_runtest_setup() -> None:
    disable_socket(allow_unix_socket=True)


def pytest_runtest_teardown() -> None:
    enable_socket()


@pytest.fixture(autouse=True)
def _dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_REDSHIFT_DATA"):
        monkeypatch.delenv(name, raising=False)
