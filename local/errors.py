"""The Data API's error responses, raised by the service and serialized by the HTTP front end.

Default messages are the shapes' descriptions in botocore's redshift-data service model
(botocore/data/redshift-data/2019-12-20/service-2.json) unless a comment names another source.
"""

from __future__ import annotations

import json
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

    def payload(self) -> tuple[bytes, str] | None:
        """(bytes, content type) to send instead of body()'s JSON; None: send the JSON."""
        return None


class ValidationError(ApiError):
    code = "ValidationException"


# The size refusals a submit can meet.
#   QUERY_TOO_LARGE: the Data API's own (ValidationException), as a Stack Exchange question by
#   Zbynek R quotes it from the Java SDK ("software.amazon.awssdk.services.redshiftdata.model.
#   ValidationException: Cannot process query string larger than 100kB", relayed at
#   https://www.volcengine.com/article/3024638); the 100 KB limit is the Data API's
#   documented maximum query statement size.
#   "Statement is too large. Statement Size: N bytes. Maximum Allowed: 16777216 bytes":
#   Redshift's own limit on one statement (16 MB), as a user reports it through psycopg2
#   (https://github.com/psycopg/psycopg2/issues/1091); as a ValidationException of the Data
#   API it is unverified.
#   "Request size exceeds the limit": unverified (no public source shows the Data API so).
#   The function must treat them all as "this statement is too big".
QUERY_TOO_LARGE = "Cannot process query string larger than 100kB"
STATEMENT_TOO_LARGE = (
    "Statement is too large. Statement Size: {size} bytes. Maximum Allowed: 16777216 bytes"
)
SIZE_WORDINGS: tuple[str, ...] = (
    QUERY_TOO_LARGE,
    STATEMENT_TOO_LARGE.format(size=16777300),
    "Request size exceeds the limit",
)
# A front end's refusal of a request body it will not read: the standard reason phrase of
# HTTP 413 (RFC 9110 section 15.5.14, "Content Too Large", formerly "Request Entity Too
# Large"). Whether AWS's front end answers the Data API so, and with which body, is unverified.
REQUEST_TOO_LARGE = "Request Entity Too Large"


class RequestTooLargeError(ApiError):
    """HTTP 413 without `__type`: botocore then has no error code but the status, and its
    ClientError carries Error.Code "413" (see tests/emulator/test_local_sizes.py)."""

    code = "413"
    status = 413

    def __init__(self, message: str = REQUEST_TOO_LARGE, *, html: bool = False) -> None:
        super().__init__(message)
        self.html = html

    def body(self) -> dict[str, Any]:
        return {"message": self.message}

    def payload(self) -> tuple[bytes, str] | None:
        # A front end's reply, not the service's: plain JSON, or the HTML page a proxy sends.
        if not self.html:
            return json.dumps(self.body()).encode(), "application/json"
        page = (
            f"<html>\r\n<head><title>413 {self.message}</title></head>\r\n<body>\r\n"
            f"<center><h1>413 {self.message}</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        return page.encode(), "text/html"


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
