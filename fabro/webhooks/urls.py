"""Which URLs a webhook may post to.

Only ``http`` and ``https`` with a host: no ``file:`` or other scheme can make the server read
or send anything but an HTTP request. Hosts on private networks and loopback are allowed: a
self-hosted team's receivers are often there, and only admins create webhooks. What bounds
the rest is in the sender: no redirects followed, a timeout, a cap on the answer read.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_CHARS = 2048


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's, or None when it can."""
    if len(url) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        # It would be shown back by GET /webhooks and in logs: a secret in clear.
        return "must not carry a user name or password"
    if parts.fragment:
        return "must not have a #fragment"
    del port
    return None
