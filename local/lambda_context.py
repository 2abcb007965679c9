"""The Lambda context the tests and the demo hand the handler (the packaged-function test keeps
its own copy: it runs where only the build directory is importable)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class LambdaContextStub:
    """The attributes Powertools' inject_lambda_context and the handler read."""

    function_name: str = "sqs-redshift-ingest"
    memory_limit_in_mb: int = 512
    remaining_ms: int = 60_000  # what get_remaining_time_in_millis answers, on every call
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
