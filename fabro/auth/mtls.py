"""The mutual-TLS authenticator (config-and-auth.md §4.4).

It reads only the standard ASGI TLS extension (``scope["extensions"]["tls"]``); the TLS layer
(``fabro.server``) has already verified the chain against ``api.tls.ca`` during the handshake, so
a certificate that is present here is a verified one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from fabro.auth.chain import Credentials, Principal
from fabro.errors import Forbidden, Unauthorized


class MtlsAuthenticator:
    """Identity = the first CN of the verified client certificate's subject."""

    method = "mtls"

    def __init__(self, allowed_common_names: Sequence[str] | None = None) -> None:
        self.allowed = None if allowed_common_names is None else frozenset(allowed_common_names)

    def authenticate(self, credentials: Credentials) -> Principal | None:
        leaf = leaf_certificate(credentials.tls)
        if leaf is None:
            return None
        common_name = first_common_name(leaf)
        if common_name is None:
            raise Unauthorized("Client certificate has no common name.")
        if self.allowed is not None and common_name not in self.allowed:
            raise Forbidden(
                f"Access denied: certificate CN {common_name[:64]!r} is not in "
                "[api.tls] allowed_common_names."
            )
        return Principal(login=common_name, method="mtls")


def leaf_certificate(tls: Mapping[str, Any] | None) -> x509.Certificate | None:
    """The client's leaf certificate from the ASGI TLS extension, or None without one."""
    if not tls:
        return None
    if tls.get("client_cert_error"):
        raise Unauthorized("Invalid client certificate.")
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    try:
        return x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise Unauthorized("Invalid client certificate.") from None


def first_common_name(certificate: x509.Certificate) -> str | None:
    """The first commonName of the subject, or None (also for an empty CN)."""
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return text or None
    return None
