"""The authenticator chain (config-and-auth.md §4).

Each authenticator answers "principal" (returns one), "not mine" (returns None: the request
carries no credential of its kind) or "rejected" (raises Unauthorized/Forbidden). The chain
tries them in configured order; the first principal wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fabro.errors import FabroError, Unauthorized

AuthMethod = Literal["jwt", "mtls"]


@dataclass(frozen=True)
class Principal:
    """An authenticated identity: the JWT username or the client certificate CN."""

    login: str
    method: AuthMethod


@dataclass(frozen=True)
class Credentials:
    """What one request offers: its Authorization header and the ASGI TLS extension."""

    authorization: str | None = None
    tls: Mapping[str, Any] | None = None


class Authenticator(Protocol):
    def authenticate(self, credentials: Credentials) -> Principal | None:
        """Return a principal, None when the credential is not of this kind, or raise."""
        ...


class AuthChain:
    """Tries each authenticator in order; no authenticators means every request gets 401."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = tuple(authenticators)

    def authenticate(self, credentials: Credentials) -> Principal:
        failure: FabroError | None = None
        for authenticator in self.authenticators:
            try:
                principal = authenticator.authenticate(credentials)
            except FabroError as exc:
                failure = exc
                continue
            if principal is not None:
                return principal
        raise failure or Unauthorized("Authentication required.")
