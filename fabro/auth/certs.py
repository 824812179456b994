"""`fabro certs init` (config-and-auth.md §8.2): a local CA, a server and client certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fabro.auth.keys import ensure_private_dir, write_private_file, write_public_file

CA_COMMON_NAME = "fabro local CA"
CA_DAYS = 3650
DEFAULT_DAYS = 825
# Certificates start a little in the past so that a client whose clock lags still accepts them.
BACKDATE = dt.timedelta(minutes=5)


class CertsExistError(Exception):
    """A file `certs init` would overwrite without --force; the message is the path."""


@dataclass(frozen=True)
class IssuedFiles:
    """What `init_certs` wrote, by role."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: tuple[tuple[str, Path, Path], ...]  # (common name, cert, key)


def client_file_stem(name: str) -> str:
    """`client-<name>` with characters outside [A-Za-z0-9._-] replaced by `_`."""
    return "client-" + re.sub(r"[^A-Za-z0-9._-]", "_", name)


def planned_files(directory: Path, client_cns: Sequence[str]) -> IssuedFiles:
    clients = tuple(
        (
            name,
            directory / f"{client_file_stem(name)}.crt",
            directory / f"{client_file_stem(name)}.key",
        )
        for name in client_cns
    )
    return IssuedFiles(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        clients=clients,
    )


def init_certs(
    directory: Path,
    client_cns: Sequence[str],
    *,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: dt.datetime | None = None,
) -> IssuedFiles:
    """Create the CA, the server and the client certificates; CertsExistError unless ``force``."""
    if days < 1:
        raise ValueError("days must be >= 1")
    files = planned_files(directory.resolve(), list(dict.fromkeys(client_cns)))
    stems = [cert.name for _, cert, _ in files.clients]
    if len(set(stems)) != len(stems):
        raise ValueError("two client names map to the same file name")
    if not force:
        for path in _all_paths(files):
            if path.exists():
                raise CertsExistError(str(path))
    start = (now or dt.datetime.now(dt.UTC)) - BACKDATE
    ensure_private_dir(files.directory)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(CA_COMMON_NAME)
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), start, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(files.ca_cert, files.ca_key, ca_cert, ca_key)

    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    server_cert = (
        _leaf_builder(_name("localhost"), ca_cert, ca_key, server_key, start, days)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pair(files.server_cert, files.server_key, server_cert, server_key)

    for name, cert_path, key_path in files.clients:
        client_key = ec.generate_private_key(ec.SECP256R1())
        client_cert = (
            _leaf_builder(_name(name), ca_cert, ca_key, client_key, start, days)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_pair(cert_path, key_path, client_cert, client_key)
    return files


def _all_paths(files: IssuedFiles) -> list[Path]:
    paths = [files.ca_cert, files.ca_key, files.server_cert, files.server_key]
    for _, cert, key in files.clients:
        paths += [cert, key]
    return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    start: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + dt.timedelta(days=days))
    )


def _leaf_builder(
    subject: x509.Name,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    start: dt.datetime,
    days: int,
) -> x509.CertificateBuilder:
    # Key identifiers and a non-CA basic constraint keep strict verifiers (OpenSSL's
    # X509_STRICT, the default from Python 3.13) satisfied.
    return (
        _builder(subject, ca_cert.subject, key.public_key(), start, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_pair(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(key_path, key_pem)
    write_public_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def toml_snippets(files: IssuedFiles) -> str:
    """The `[api.tls]` block for server.toml and the `[server.tls]` block for cli.toml."""
    server = "\n".join(
        [
            "[api]",
            'authentication_strategies = ["mtls"]',
            "",
            "[api.tls]",
            f"cert = {_toml_str(files.server_cert)}",
            f"key = {_toml_str(files.server_key)}",
            f"ca = {_toml_str(files.ca_cert)}",
        ]
    )
    blocks = [f"Add to server.toml:\n\n{server}\n"]
    if files.clients:
        _, cert, key = files.clients[0]
        client = "\n".join(
            [
                "[server]",
                'base_url = "https://127.0.0.1:3000"',
                "",
                "[server.tls]",
                f"cert = {_toml_str(cert)}",
                f"key = {_toml_str(key)}",
                f"ca = {_toml_str(files.ca_cert)}",
            ]
        )
        blocks.append(f"Add to ~/.fabro/cli.toml:\n\n{client}\n")
    return "\n".join(blocks)


def _toml_str(path: Path) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
