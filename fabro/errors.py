"""The FabroError tree: every error a client can see carries its HTTP status and title.

One handler in ``fabro.api.errors`` renders any of these in the envelope of api.md §2:
``{"errors": [{"status": "404", "title": "Not Found", "detail": "Run not found."}]}``.
"""

from __future__ import annotations

from typing import ClassVar


class FabroError(Exception):
    """Base of all errors that map to an HTTP response."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    def to_envelope(self) -> dict[str, list[dict[str, str]]]:
        return error_envelope(self.status, self.title, self.detail)


def error_envelope(status: int, title: str, detail: str) -> dict[str, list[dict[str, str]]]:
    """The one error body shape of the API."""
    return {"errors": [{"status": str(status), "title": title, "detail": detail}]}


class BadRequest(FabroError):
    status = 400
    title = "Bad Request"


class Unauthorized(FabroError):
    status = 401
    title = "Unauthorized"


class Forbidden(FabroError):
    status = 403
    title = "Forbidden"


class NotFound(FabroError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(FabroError):
    status = 405
    title = "Method Not Allowed"


class Conflict(FabroError):
    status = 409
    title = "Conflict"


class Gone(FabroError):
    status = 410
    title = "Gone"


class PayloadTooLarge(FabroError):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaType(FabroError):
    status = 415
    title = "Unsupported Media Type"


class RangeNotSatisfiable(FabroError):
    status = 416
    title = "Range Not Satisfiable"


class UnprocessableEntity(FabroError):
    """A well-formed request the server will not act on (a workflow the policy blocks)."""

    status = 422
    title = "Unprocessable Entity"


class TooManyRequests(FabroError):
    status = 429
    title = "Too Many Requests"


class InternalError(FabroError):
    status = 500
    title = "Internal Server Error"


class NotImplementedYet(FabroError):
    status = 501
    title = "Not Implemented"


class BadGateway(FabroError):
    status = 502
    title = "Bad Gateway"


class InsufficientStorage(FabroError):
    """A write refused because the disk (or the database) is full; nothing of it was stored."""

    status = 507
    title = "Insufficient Storage"


STATUS_TITLES: dict[int, str] = {
    cls.status: cls.title
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
        RangeNotSatisfiable,
        UnprocessableEntity,
        TooManyRequests,
        InternalError,
        NotImplementedYet,
        BadGateway,
        InsufficientStorage,
    )
}


class StartupError(Exception):
    """A configuration or environment problem that stops a command with one `error:` line."""
