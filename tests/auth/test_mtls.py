"""The mTLS authenticator over the ASGI TLS extension, with real certificates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fabro.auth.certs import IssuedFiles
from fabro.auth.chain import Credentials, Principal
from fabro.auth.mtls import MtlsAuthenticator
from fabro.errors import Forbidden, Unauthorized


def extension(*pems: str) -> dict[str, Any]:
    return {
        "client_cert_chain": list(pems),
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": None,
        "server_cert": None,
    }


def client_pem(certs: IssuedFiles, name: str) -> str:
    return next(path for cn, path, _ in certs.clients if cn == name).read_text()


def test_identity_is_the_common_name(certs: IssuedFiles) -> None:
    tls = extension(client_pem(certs, "alice"), Path(certs.ca_cert).read_text())
    principal = MtlsAuthenticator().authenticate(Credentials(tls=tls))
    assert principal == Principal(login="alice", method="mtls")


@pytest.mark.parametrize("tls", [None, {}, extension()])
def test_no_certificate_is_not_an_mtls_request(tls: dict[str, Any] | None) -> None:
    assert MtlsAuthenticator(["alice"]).authenticate(Credentials(tls=tls)) is None


def test_allowed_common_names(certs: IssuedFiles) -> None:
    authenticator = MtlsAuthenticator(["alice", "ci-bot"])
    bob = Credentials(tls=extension(client_pem(certs, "bob")))
    denied = r"^Access denied: certificate CN 'bob' is not in \[api\.tls\] allowed_common_names\.$"
    with pytest.raises(Forbidden, match=denied):
        authenticator.authenticate(bob)
    ci = authenticator.authenticate(Credentials(tls=extension(client_pem(certs, "ci-bot"))))
    assert ci is not None and ci.login == "ci-bot"


def test_an_empty_allow_list_denies_every_certificate(certs: IssuedFiles) -> None:
    with pytest.raises(Forbidden):
        MtlsAuthenticator([]).authenticate(Credentials(tls=extension(client_pem(certs, "alice"))))


def test_a_certificate_without_common_name_is_401() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fabro")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    tls = extension(cert.public_bytes(Encoding.PEM).decode())
    with pytest.raises(Unauthorized, match=r"^Client certificate has no common name\.$"):
        MtlsAuthenticator().authenticate(Credentials(tls=tls))


def test_a_reported_verification_error_or_garbage_is_401(certs: IssuedFiles) -> None:
    failed = extension(client_pem(certs, "alice")) | {"client_cert_error": "unknown ca"}
    with pytest.raises(Unauthorized):
        MtlsAuthenticator().authenticate(Credentials(tls=failed))
    with pytest.raises(Unauthorized):
        MtlsAuthenticator().authenticate(Credentials(tls=extension("not a certificate")))
