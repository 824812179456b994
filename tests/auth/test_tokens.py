"""`fabro token` (config-and-auth.md §8.1) through click's CliRunner."""

from __future__ import annotations

import base64
import getpass
import json
import time
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.keys import ensure_key_pair, private_key_pem
from fabro.auth.tokens import parse_ttl
from fabro.cli import cli
from fabro.errors import StartupError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME without a server.toml, and no FABRO_* variables from the developer's shell."""
    for name in ("FABRO_JWT_PRIVATE_KEY", "FABRO_DATA_DIR", "FABRO_CONFIG", "FABRO_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["token", *args])
    return result.exit_code, result.output


def decode(token: str, key: Ed25519PrivateKey, **kwargs: object) -> dict[str, object]:
    return jwt.decode(token, key.public_key(), algorithms=["EdDSA"], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("90", 90), ("7d", 604800), ("30d", 2592000)],
)
def test_ttl_units(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["31d", "0s", "1w", "", "-1h", "1.5h", "h"])
def test_ttl_errors(text: str) -> None:
    with pytest.raises(StartupError, match=r"^--ttl must be a duration like 30m, 1h or 7d"):
        parse_ttl(text)


def test_defaults_use_the_data_dir_key_and_os_user(home: Path) -> None:
    key = ensure_key_pair(home / ".fabro" / "keys")
    code, output = run()
    assert code == 0 and output.endswith("\n") and output.count("\n") == 1
    token = output.strip()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "JWT"}
    claims = decode(token, key, issuer="fabro-web")
    assert claims["sub"] == getpass.getuser()
    assert claims["exp"] - claims["iat"] == 3600  # type: ignore[operator]
    assert abs(claims["iat"] - time.time()) < 5  # type: ignore[operator]
    assert "aud" not in claims


def test_every_option(home: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(private_key_pem(key))
    code, output = run(
        "--user", "bob", "--ttl", "2d", "--private-key", str(key_file), "--issuer", "corp",
        "--audience", "fabro",
    )  # fmt: skip
    assert code == 0, output
    claims = decode(output.strip(), key, issuer="corp", audience="fabro")
    assert claims["sub"] == "bob" and claims["exp"] - claims["iat"] == 2 * 86400  # type: ignore[operator]


def test_data_dir_option_and_configured_issuer(home: Path, tmp_path: Path) -> None:
    key = ensure_key_pair(tmp_path / "elsewhere" / "keys")
    (home / ".fabro").mkdir()
    (home / ".fabro" / "server.toml").write_text(
        '[api.jwt]\nissuer = "from-config"\naudience = "aud-from-config"\n'
    )
    code, output = run("--data-dir", str(tmp_path / "elsewhere"))
    assert code == 0, output
    claims = decode(output.strip(), key, issuer="from-config", audience="aud-from-config")
    assert claims["iss"] == "from-config"


def test_private_key_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv("FABRO_JWT_PRIVATE_KEY", base64.b64encode(private_key_pem(key)).decode())
    code, output = run()
    assert code == 0, output
    decode(output.strip(), key)


def test_missing_key_is_the_spec_error(home: Path) -> None:
    code, output = run()
    path = home / ".fabro" / "keys" / "jwt_ed25519.pem"
    assert code == 1
    assert output == (
        f"error: no JWT private key at {path}; start fabro serve once without a server.toml "
        "or pass --private-key\n"
    )
    code, output = run("--private-key", str(home / "nope.pem"))
    assert code == 1 and output.startswith(f"error: no JWT private key at {home / 'nope.pem'};")


def test_a_wrong_key_and_a_long_ttl_are_one_line_errors(home: Path) -> None:
    bad = home / "bad.pem"
    bad.write_text("not a key")
    code, output = run("--private-key", str(bad))
    assert (
        code == 1
        and output.startswith("error: cannot use the JWT private key")
        and output.count("\n") == 1
    )
    code, output = run("--ttl", "31d")
    assert (code, output) == (
        1,
        'error: --ttl must be a duration like 30m, 1h or 7d, at most 30d (got "31d")\n',
    )
