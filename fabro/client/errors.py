"""The SDK's exceptions: every error envelope the API answers becomes one, by status."""

from __future__ import annotations

from typing import ClassVar

import httpx
import msgspec

from fabro.api.bodies.common import ErrorResponse


class FabroClientError(Exception):
    """Anything the SDK raises."""


class FabroConnectionError(FabroClientError):
    """The server could not be reached, or the connection broke before an answer."""


class FabroApiError(FabroClientError):
    """An error answer: its HTTP status and the envelope's title and detail."""

    status: int
    STATUS: ClassVar[int | None] = None

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


class BadRequestError(FabroApiError):
    STATUS = 400


class UnauthorizedError(FabroApiError):
    STATUS = 401


class ForbiddenError(FabroApiError):
    STATUS = 403


class NotFoundError(FabroApiError):
    STATUS = 404


class MethodNotAllowedError(FabroApiError):
    STATUS = 405


class ConflictError(FabroApiError):
    STATUS = 409


class GoneError(FabroApiError):
    STATUS = 410


class PayloadTooLargeError(FabroApiError):
    STATUS = 413


class UnsupportedMediaTypeError(FabroApiError):
    STATUS = 415


class RangeNotSatisfiableError(FabroApiError):
    STATUS = 416


class UnprocessableError(FabroApiError):
    STATUS = 422


class TooManyRequestsError(FabroApiError):
    STATUS = 429


class ServerError(FabroApiError):
    STATUS = 500


class NotBuiltError(FabroApiError):
    """501: a route of the spec this server does not have yet."""

    STATUS = 501


class BadGatewayError(FabroApiError):
    STATUS = 502


class ServiceUnavailableError(FabroApiError):
    STATUS = 503


class InsufficientStorageError(FabroApiError):
    STATUS = 507


BY_STATUS: dict[int, type[FabroApiError]] = {
    cls.STATUS: cls for cls in FabroApiError.__subclasses__() if cls.STATUS is not None
}


def api_error(response: httpx.Response) -> FabroApiError:
    """The exception for an error answer (its envelope's first error; the status line else)."""
    title, detail = response.reason_phrase, ""
    try:
        errors = msgspec.json.decode(response.content, type=ErrorResponse).errors
    except msgspec.DecodeError:  # ValidationError is one too
        errors = []
    if errors:
        title, detail = errors[0].title, errors[0].detail
    cls = BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else FabroApiError
    return cls(response.status_code, title, detail)
