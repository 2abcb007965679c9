"""The Data API's error responses, raised by the service and serialized by the HTTP front end.

Default messages are the shapes' descriptions in botocore's redshift-data service model
(botocore/data/redshift-data/2019-12-20/service-2.json) unless a comment names another source.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the Data API returns: `__type` names the code botocore puts in Error.Code.

    The status decides botocore's retries: 5xx for the shapes the model marks as faults
    (botocore's standard mode retries 500, 502, 503 and 504), 400 for client errors.
    """

    code = "InternalServerException"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message, **self.fields}


class ValidationError(ApiError):
    code = "ValidationException"


class EndpointNotFoundError(ValidationError):
    """A ClusterIdentifier or WorkgroupName naming nothing in this account and region.

    Wording as reported by users of the service (aws/aws-cdk issue #30536; the
    terraform-provider-redshift and Ballerina redshift-data connector tests assert it for an
    unknown workgroup and cluster): not in AWS's documentation.
    """

    def __init__(self) -> None:
        super().__init__("Redshift endpoint doesn't exist in this region.")


class AccessDeniedError(ApiError):
    """IAM's refusal. The message follows the IAM User Guide's "access denied error messages"
    format; the principal and resource ARNs are placeholders, so the exact text is unverified."""

    code = "AccessDeniedException"

    def __init__(self, operation: str, resource_arn: str) -> None:
        action = f"redshift-data:{operation}"
        super().__init__(
            "User: arn:aws:sts::123456789012:assumed-role/ingest/ingest is not authorized to "
            f"perform: {action} on resource: {resource_arn} because no identity-based policy "
            f"allows the {action} action"
        )


class ResourceNotFoundError(ApiError):
    code = "ResourceNotFoundException"

    def __init__(self, resource_id: str) -> None:
        super().__init__("Query does not exist.", ResourceId=resource_id)


class ActiveStatementsExceededError(ApiError):
    code = "ActiveStatementsExceededException"

    def __init__(self, quota: int) -> None:
        # The wording the old system logged (README, "Why this exists").
        super().__init__(f"Active statements exceeded the allowed quota ({quota}).")


class ThrottlingError(ApiError):
    code = "ThrottlingException"

    def __init__(self) -> None:
        super().__init__("Rate exceeded")  # the usual AWS wording; unverified for this API


class UnknownOperationError(ApiError):
    code = "UnknownOperationException"


class InternalServerError(ApiError):
    code = "InternalServerException"
    status = 500


# Codes that can be injected, with their status and default message (the service model's
# description of each shape, except ThrottlingException: see ThrottlingError).
SERVER_FAULTS: dict[str, tuple[int, str]] = {
    "ExecuteStatementException": (
        500,
        "The SQL statement encountered an environmental error while running.",
    ),
    "BatchExecuteStatementException": (
        500,
        "An SQL statement encountered an environmental error while running.",
    ),
    "DatabaseConnectionException": (500, "Connection to a database failed."),
    "InternalServerException": (500, "The Amazon Redshift Data API operation failed."),
    "ActiveSessionsExceededException": (
        400,
        "The Amazon Redshift Data API operation failed because the maximum number of active "
        "sessions exceeded.",
    ),
}
OTHER_REFUSALS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (400, "Rate exceeded"),
    "QueryTimeoutException": (400, "The Amazon Redshift Data API operation failed due to timeout."),
    "ActiveWaitingRequestsExceededException": (
        400,
        "The number of active requests with WaitTimeSeconds for the same SQL statement exceeds "
        "the limit.",
    ),
}


def refusal(code: str, **fields: Any) -> ApiError:
    """An injected error response for one of SERVER_FAULTS or OTHER_REFUSALS."""
    status, message = SERVER_FAULTS.get(code) or OTHER_REFUSALS[code]
    return ApiError(message, code=code, status=status, **fields)
