"""The Data API's error responses, raised by the service and serialized by the HTTP front end."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the Data API returns: `__type` names the code botocore puts in Error.Code."""

    code = "InternalServerException"
    status = 400

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message, **self.fields}


class ValidationError(ApiError):
    code = "ValidationException"


class ResourceNotFoundError(ApiError):
    code = "ResourceNotFoundException"

    def __init__(self, resource_id: str) -> None:
        super().__init__("Query does not exist.", ResourceId=resource_id)


class ActiveStatementsExceededError(ApiError):
    code = "ActiveStatementsExceededException"

    def __init__(self, quota: int) -> None:
        super().__init__(f"Active statements exceeded the allowed quota ({quota}).")


class ThrottlingError(ApiError):
    code = "ThrottlingException"

    def __init__(self) -> None:
        super().__init__("Rate exceeded")


class UnknownOperationError(ApiError):
    code = "UnknownOperationException"


class InternalServerError(ApiError):
    code = "InternalServerException"
    status = 500
