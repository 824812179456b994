"""Ed25519 key files: modes, reuse, PEM/base64 loading, and the minted token's shape."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.keys import (
    UnusableKeyError,
    ensure_key_pair,
    ensure_zero_config_keys,
    mint_token,
    parse_private_key,
    parse_public_key,
    pem_text,
    public_key_pem,
)
from fabro.config import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_zero_config_keys_have_the_spec_modes(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    settings = Settings(data_dir=data_dir, workflows_dir=data_dir / "workflows")
    old_umask = os.umask(0o000)  # a permissive umask must not leak into the modes
    try:
        ensure_zero_config_keys(settings)
    finally:
        os.umask(old_umask)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "keys") == 0o700
    assert mode(data_dir / "keys" / "jwt_ed25519.pem") == 0o600
    assert mode(data_dir / "keys" / "jwt_ed25519.pub.pem") == 0o644
    text = (data_dir / "keys" / "jwt_ed25519.pem").read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert not list((data_dir / "keys").glob(".*tmp"))


def test_existing_keys_are_reused(tmp_path: Path) -> None:
    first = ensure_key_pair(tmp_path / "keys")
    before = (tmp_path / "keys" / "jwt_ed25519.pem").read_bytes()
    (tmp_path / "keys" / "jwt_ed25519.pub.pem").unlink()
    second = ensure_key_pair(tmp_path / "keys")
    assert (tmp_path / "keys" / "jwt_ed25519.pem").read_bytes() == before
    assert public_key_pem(second.public_key()) == public_key_pem(first.public_key())
    assert (tmp_path / "keys" / "jwt_ed25519.pub.pem").read_bytes() == public_key_pem(
        first.public_key()
    )


def test_pem_text_accepts_pem_and_base64_of_pem() -> None:
    pem = public_key_pem(Ed25519PrivateKey.generate().public_key())
    assert parse_public_key(pem_text(pem.decode())) is not None
    assert parse_public_key(pem_text(base64.b64encode(pem).decode())) is not None


@pytest.mark.parametrize(
    "value",
    ["not base64 at all !!!", base64.b64encode(b"hello").decode(), "-----BEGIN NOTHING-----"],
)
def test_unusable_public_keys_say_why(value: str) -> None:
    with pytest.raises(UnusableKeyError):
        parse_public_key(pem_text(value))


def test_a_non_ed25519_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(UnusableKeyError, match="not an Ed25519 key"):
        parse_public_key(pem)
    with pytest.raises(UnusableKeyError):
        parse_private_key(pem)


def test_minted_token_has_the_spec_header_and_claims() -> None:
    key = Ed25519PrivateKey.generate()
    token = mint_token(key, subject="alice", issuer="fabro-web", ttl_s=3600, now=1_000_000)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "JWT"}
    claims = jwt.decode(
        token, key.public_key(), algorithms=["EdDSA"], options={"verify_exp": False}
    )
    assert claims == {"iss": "fabro-web", "sub": "alice", "iat": 1_000_000, "exp": 1_003_600}
    with_aud = mint_token(key, subject="a", issuer="i", ttl_s=1, audience="fabro")
    assert jwt.decode(with_aud, options={"verify_signature": False})["aud"] == "fabro"
