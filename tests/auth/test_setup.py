"""build_auth_chain: strategies in order, key sources, one-line startup errors; the banner."""

from __future__ import annotations

import base64
import getpass
import re
from pathlib import Path
from urllib.parse import unquote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.certs import IssuedFiles
from fabro.auth.chain import Credentials, Principal
from fabro.auth.jwt import JwtAuthenticator
from fabro.auth.keys import mint_token, public_key_pem
from fabro.auth.mtls import MtlsAuthenticator
from fabro.auth.setup import (
    auth_warnings,
    build_auth_chain,
    load_public_key,
    zero_config_banner,
)
from fabro.config import TlsSettings
from fabro.errors import Forbidden, StartupError, Unauthorized
from tests.auth.conftest import SettingsFactory

KEY_ERROR = (
    "the jwt authentication strategy needs an Ed25519 public key: set "
    "FABRO_JWT_PUBLIC_KEY or api.jwt.public_key_file ("
)


def tls_settings(certs: IssuedFiles, names: tuple[str, ...] | None = None) -> TlsSettings:
    return TlsSettings(
        cert=certs.server_cert, key=certs.server_key, ca=certs.ca_cert, allowed_common_names=names
    )


def test_strategies_are_built_in_configured_order(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey, certs: IssuedFiles
) -> None:
    chain = build_auth_chain(
        make_settings(strategies=("mtls", "jwt"), tls=tls_settings(certs)), env={}
    )
    assert [type(a) for a in chain.authenticators] == [MtlsAuthenticator, JwtAuthenticator]


def test_no_strategies_means_401_for_everyone(make_settings: SettingsFactory) -> None:
    chain = build_auth_chain(make_settings(strategies=()), env={})
    with pytest.raises(Unauthorized, match=r"^Authentication required\.$"):
        chain.authenticate(Credentials(authorization="Bearer x.y.z"))


def test_chain_returns_the_last_failure_or_authentication_required(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey, certs: IssuedFiles
) -> None:
    chain = build_auth_chain(
        make_settings(strategies=("jwt", "mtls"), tls=tls_settings(certs, ("bob",))), env={}
    )
    with pytest.raises(Unauthorized, match=r"^Authentication required\.$"):
        chain.authenticate(Credentials())
    alice_pem = next(p for n, p, _ in certs.clients if n == "alice").read_text()
    tls = {"client_cert_chain": [alice_pem], "client_cert_error": None}
    with pytest.raises(Forbidden):
        chain.authenticate(Credentials(authorization="Bearer garbage", tls=tls))
    good = "Bearer " + mint_token(signing_key, subject="alice", issuer="fabro-web", ttl_s=60)
    principal = chain.authenticate(Credentials(authorization=good, tls=tls))
    assert principal == Principal("alice", "jwt")


def test_public_key_precedence(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    other = Ed25519PrivateKey.generate()
    third = Ed25519PrivateKey.generate()
    key_file = tmp_path / "configured.pub.pem"
    key_file.write_bytes(public_key_pem(third.public_key()))
    env_pem = public_key_pem(other.public_key()).decode()

    def loaded(settings_key: Path | None, env: dict[str, str]) -> bytes:
        return public_key_pem(load_public_key(make_settings(public_key_file=settings_key), env))

    assert loaded(key_file, {"FABRO_JWT_PUBLIC_KEY": env_pem}) == env_pem.encode()
    b64 = base64.b64encode(env_pem.encode()).decode()
    assert loaded(key_file, {"FABRO_JWT_PUBLIC_KEY": b64}) == env_pem.encode()
    assert loaded(key_file, {}) == public_key_pem(third.public_key())
    assert loaded(None, {}) == public_key_pem(signing_key.public_key())


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing default", r"/keys/jwt_ed25519\.pub\.pem: no such file\)$"),
        ("missing file", r"nowhere\.pem: No such file or directory\)$"),
        ("bad env", r"FABRO_JWT_PUBLIC_KEY: not a PEM public key"),
        ("rsa-ish file", r"junk\.pem: not a PEM public key\)$"),
    ],
)
def test_an_unusable_key_stops_startup_with_one_line(
    make_settings: SettingsFactory, tmp_path: Path, case: str, reason: str
) -> None:
    env: dict[str, str] = {}
    key_file: Path | None = None
    if case == "missing file":
        key_file = tmp_path / "nowhere.pem"
    elif case == "bad env":
        env = {"FABRO_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}
    elif case == "rsa-ish file":
        key_file = tmp_path / "junk.pem"
        key_file.write_text("hello")
    with pytest.raises(StartupError) as caught:
        build_auth_chain(make_settings(public_key_file=key_file), env)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(KEY_ERROR) and message.endswith(")")
    assert re.search(reason, message), message


def test_mtls_without_ca_stops_startup(make_settings: SettingsFactory, certs: IssuedFiles) -> None:
    tls = TlsSettings(cert=certs.server_cert, key=certs.server_key)
    with pytest.raises(StartupError, match=r"^the mtls authentication strategy requires"):
        build_auth_chain(make_settings(strategies=("mtls",), tls=tls), env={})


def test_banner_prints_a_24h_token_and_curl(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey
) -> None:
    user = getpass.getuser()
    settings = make_settings(zero_config=True, allowed_usernames=(user,))
    banner = zero_config_banner(settings, {}, "http://127.0.0.1:3000")
    assert banner is not None
    lines = banner.splitlines()
    assert (
        lines[0] == f'No server.toml found: zero-config mode, JWT authentication for user "{user}".'
    )
    assert lines[1:3] == ["Bearer token (valid 24 hours):", ""]
    token = lines[3].removeprefix("    ")
    assert lines[4:7] == [
        "",
        f'Try:  curl -H "Authorization: Bearer {token}" http://127.0.0.1:3000/user',
        "New token later:  fabro token",
    ]
    claims = jwt.decode(token, signing_key.public_key(), algorithms=["EdDSA"], issuer="fabro-web")
    assert claims["sub"] == user and claims["exp"] - claims["iat"] == 24 * 3600
    link_line, note = lines[8:]
    prefix = "  Sign in to the web UI: http://127.0.0.1:3000/ui/signin/link?token="
    assert link_line.startswith(prefix) and "works once, for 15 minutes" in note
    link_claims = jwt.decode(
        unquote(link_line.removeprefix(prefix)),
        signing_key.public_key(),
        algorithms=["EdDSA"],
        issuer="fabro-web",
    )
    assert link_claims["sub"] == user and link_claims["purpose"] == "ui-signin"
    assert link_claims["exp"] - link_claims["iat"] == 15 * 60 and link_claims["jti"]


def test_banner_with_an_env_public_key_prints_a_note_and_no_token(
    make_settings: SettingsFactory, signing_key: Ed25519PrivateKey
) -> None:
    settings = make_settings(zero_config=True)
    env = {"FABRO_JWT_PUBLIC_KEY": public_key_pem(signing_key.public_key()).decode()}
    banner = zero_config_banner(settings, env, "http://127.0.0.1:3000")
    assert banner is not None
    assert "FABRO_JWT_PUBLIC_KEY is set" in banner and "no token printed" in banner
    assert "eyJ" not in banner


def test_no_banner_with_a_config_file(make_settings: SettingsFactory) -> None:
    assert zero_config_banner(make_settings(), {}, "http://127.0.0.1:3000") is None


@pytest.mark.parametrize(
    ("strategies", "users", "warned"),
    [
        (("jwt",), (), True),
        (("jwt", "mtls"), (), True),
        (("jwt",), ("alice",), False),
        (("mtls",), (), False),  # the allow list is JWT's alone
    ],
)
def test_an_empty_allow_list_with_jwt_warns(
    make_settings: SettingsFactory,
    strategies: tuple[str, ...],
    users: tuple[str, ...],
    warned: bool,
) -> None:
    warnings = auth_warnings(make_settings(strategies=strategies, allowed_usernames=users))
    expected = (
        "JWT authentication is on but [web.auth] allowed_usernames is empty: "
        "every token will be refused (403)"
    )
    assert warnings == ([expected] if warned else [])
