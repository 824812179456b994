"""`fabro certs init`: the certificates' contents, file modes, --force and the snippets."""

from __future__ import annotations

import ipaddress
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fabro.auth.certs import IssuedFiles, client_file_stem, init_certs
from fabro.cli import cli


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_ca_certificate(certs: IssuedFiles) -> None:
    ca = load(certs.ca_cert)
    assert cn(ca) == "fabro local CA"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days == 3650
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"


def test_server_certificate(certs: IssuedFiles) -> None:
    server = load(certs.server_cert)
    assert cn(server) == "localhost"
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days == 825
    server.verify_directly_issued_by(load(certs.ca_cert))


def test_client_certificates(certs: IssuedFiles) -> None:
    names = [name for name, _, _ in certs.clients]
    assert names == ["alice", "bob", "ci-bot"]
    for name, cert_path, _ in certs.clients:
        cert = load(cert_path)
        assert cn(cert) == name
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        cert.verify_directly_issued_by(load(certs.ca_cert))


def test_key_files_are_private_pkcs8(certs: IssuedFiles) -> None:
    keys = [certs.ca_key, certs.server_key] + [key for _, _, key in certs.clients]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("name", "stem"),
    [("alice", "client-alice"), ("ci bot/2", "client-ci_bot_2"), ("a.b-c_d", "client-a.b-c_d")],
)
def test_client_file_names_are_sanitised(name: str, stem: str) -> None:
    assert client_file_stem(name) == stem


def test_cli_prints_snippets_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "certs"
    args = ["certs", "init", "--dir", str(target), "--client-cn", "alice", "--days", "30"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    server_part, _, client_part = first.output.partition("Add to ~/.fabro/cli.toml:")
    server_toml = tomllib.loads(server_part.partition("Add to server.toml:")[2])
    assert server_toml["api"]["authentication_strategies"] == ["mtls"]
    assert server_toml["api"]["tls"] == {
        "cert": str(target / "server.crt"),
        "key": str(target / "server.key"),
        "ca": str(target / "ca.crt"),
    }
    cli_toml = tomllib.loads(client_part)
    assert cli_toml["server"]["tls"]["cert"] == str(target / "client-alice.crt")
    assert (
        load(target / "server.crt").not_valid_after_utc
        - load(target / "server.crt").not_valid_before_utc
    ).days == 30

    before = (target / "ca.key").read_bytes()
    second = runner.invoke(cli, args)
    assert second.exit_code == 1
    assert f"error: {target / 'ca.crt'} already exists; pass --force to overwrite" in second.output
    assert (target / "ca.key").read_bytes() == before

    forced = runner.invoke(cli, [*args, "--force"])
    assert forced.exit_code == 0
    assert (target / "ca.key").read_bytes() != before


def test_cli_defaults_to_the_os_user(tmp_path: Path) -> None:
    import getpass

    result = CliRunner().invoke(cli, ["certs", "init", "--dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / f"{client_file_stem(getpass.getuser())}.crt").exists()


def test_clashing_client_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        init_certs(tmp_path, ["a b", "a_b"])
