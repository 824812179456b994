"""Sign-in links for the web UI: a short-lived JWT that opens one browser session.

The link's token is an ordinary fabro JWT (same key, issuer, audience and user allow-list)
with two more claims: ``purpose`` (so that a plain API token is not a link) and ``jti`` (the
server records it when the link is used, so each link signs in once). It expires after
``LINK_TTL_S``; opening it sends the browser on to /ui/ so the token leaves the address bar.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.keys import mint_token

LINK_PURPOSE = "ui-signin"
LINK_TTL_S = 15 * 60
LINK_PATH = "/ui/signin/link"


def signin_link(
    key: Ed25519PrivateKey,
    base_url: str,
    *,
    subject: str,
    issuer: str,
    audience: str | None = None,
    now: float | None = None,
) -> str:
    """The URL that signs ``subject`` in to the UI at ``base_url`` once, for LINK_TTL_S."""
    token = mint_token(
        key,
        subject=subject,
        issuer=issuer,
        audience=audience,
        ttl_s=LINK_TTL_S,
        now=now,
        extra={"purpose": LINK_PURPOSE, "jti": secrets.token_urlsafe(16)},
    )
    return f"{base_url.rstrip('/')}{LINK_PATH}?token={quote(token)}"
