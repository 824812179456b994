"""The one place errors become responses: every error in the api.md §2 envelope."""

from __future__ import annotations

import logging
from http import HTTPStatus

from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from fabro.api.bodies.common import Error, ErrorResponse
from fabro.api.respond import encode, json_response
from fabro.errors import STATUS_TITLES, FabroError

log = logging.getLogger("fabro.api")

# Quart's own errors (routing, body size, ...) with fabro's exact details.
_HTTP_DETAILS = {
    400: "Bad request.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    415: "Content-Type must be application/json, application/yaml or application/toml.",
}


def status_title(status: int) -> str:
    """The envelope's title for ``status``: fabro's own, else the standard reason phrase."""
    return STATUS_TITLES.get(status) or HTTPStatus(status).phrase


def envelope(status: int, title: str, detail: str) -> ErrorResponse:
    return ErrorResponse(errors=[Error(status=str(status), title=title, detail=detail)])


def envelope_bytes(status: int, detail: str) -> bytes:
    """The envelope as the app's JSON responses encode it, for answers sent outside Quart."""
    return encode(envelope(status, status_title(status), detail))


def envelope_response(status: int, title: str, detail: str) -> Response:
    return json_response(envelope(status, title, detail), status)


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(FabroError)
    async def fabro_error(error: FabroError) -> Response:
        response = envelope_response(error.status, error.title, error.detail)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        title = STATUS_TITLES.get(status) or error.name
        detail = _HTTP_DETAILS.get(status) or f"{error.name}."
        response = envelope_response(status, title, detail)
        if status == 405:
            allowed = getattr(error, "valid_methods", None) or []
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> Response:
        # The trace goes to the server log only; the client gets a generic 500.
        log.exception("unhandled error while serving a request", exc_info=error)
        return envelope_response(500, "Internal Server Error", "Internal server error.")
