"""Shared fixtures for the authentication tests: real keys, real certificates, settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fabro.auth.certs import IssuedFiles, init_certs
from fabro.auth.keys import ensure_key_pair
from fabro.config import (
    ApiSettings,
    JwtSettings,
    Settings,
    TlsSettings,
    WebAuthSettings,
    WebSettings,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The data dir's key pair, created as zero-config would."""
    return ensure_key_pair(data_dir / "keys")


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> IssuedFiles:
    """A CA, a server certificate and clients alice, bob and ci-bot (made once per session)."""
    return init_certs(tmp_path_factory.mktemp("certs"), ["alice", "bob", "ci-bot"])


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(data_dir: Path) -> SettingsFactory:
    """Settings as a server.toml would give them; keyword arguments override pieces."""

    def build(
        *,
        strategies: tuple[str, ...] = ("jwt",),
        allowed_usernames: tuple[str, ...] = ("alice",),
        issuer: str = "fabro-web",
        audience: str | None = None,
        public_key_file: Path | None = None,
        tls: TlsSettings | None = None,
        zero_config: bool = False,
        **extra: Any,
    ) -> Settings:
        return Settings(
            data_dir=data_dir,
            workflows_dir=data_dir / "workflows",
            api=ApiSettings(
                authentication_strategies=strategies,
                tls=tls,
                jwt=JwtSettings(issuer=issuer, audience=audience, public_key_file=public_key_file),
            ),
            web=WebSettings(auth=WebAuthSettings(allowed_usernames=allowed_usernames)),
            config_path=None if zero_config else data_dir.parent / "server.toml",
            **extra,
        )

    return build
