"""The integration fixtures (the real handler on the local Data API and moto's SQS), reused."""

from tests.integration.conftest import bind_mode, data_api, moto_endpoint, stack

__all__ = ["bind_mode", "data_api", "moto_endpoint", "stack"]
