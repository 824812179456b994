"""The error envelope of api.md §2, as the API and security tests check it."""

from __future__ import annotations

from typing import Any

from fabro.errors import STATUS_TITLES


def assert_envelope(body: Any, status: int, detail: str | None = None) -> None:
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"status", "title", "detail"}
    assert error["status"] == str(status)
    assert error["title"] == STATUS_TITLES[status]
    assert isinstance(error["detail"], str) and error["detail"].strip()
    if detail is not None:
        assert error["detail"] == detail
