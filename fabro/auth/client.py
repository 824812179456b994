"""Client settings for the CLI's API commands (cli.md §6): server URL (and finding a local
server), token, TLS, httpx clients."""

from __future__ import annotations

import getpass
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fabro import __version__
from fabro.auth.keys import (
    PRIVATE_KEY_ENV,
    UnusableKeyError,
    default_private_key_path,
    mint_token,
    parse_private_key,
    pem_text,
    read_key_file,
)
from fabro.config import load_settings
from fabro.errors import StartupError
from fabro.home import expand_home, home_dir
from fabro.server_file import read_server_file, server_file

DEFAULT_SERVER = "http://127.0.0.1:3000"
AUTO_TOKEN_TTL_S = 5 * 60


@dataclass(frozen=True)
class ClientSettings:
    """Where the server is and how to prove who we are; the token is never part of repr()."""

    base_url: str
    token: str | None = None
    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    token_source: str | None = None  # "--token", "FABRO_TOKEN", "cli.toml", "auto" or None
    # Where base_url came from, for error messages: "--server", "FABRO_SERVER", "cli.toml",
    # the server.json path of a local server, or "default".
    server_source: str = field(default="default", compare=False)

    def __repr__(self) -> str:
        token = "<set>" if self.token else None
        return (
            f"ClientSettings(base_url={self.base_url!r}, token={token}, cert={self.cert!r}, "
            f"key={self.key!r}, ca={self.ca!r}, token_source={self.token_source!r}, "
            f"server_source={self.server_source!r})"
        )

    def unreachable(self, reason: object) -> str:
        """The one-line error for a server that cannot be reached, naming how to choose one."""
        origin = {
            "default": "the default; no local server recorded where it listens",
            "--server": "from --server",
            "FABRO_SERVER": "from FABRO_SERVER",
            "cli.toml": "from cli.toml [server] base_url",
        }.get(self.server_source, f"from {self.server_source}")
        return (
            f"cannot connect to {self.base_url}: {reason} ({origin}; start one with "
            "`fabro serve`, or name one with --server URL or FABRO_SERVER)"
        )

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"fabro/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def ssl_context(self) -> ssl.SSLContext:
        """Server verification (ca or the system store) plus the client certificate, if any."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"cannot read CA bundle {self.ca}: {_reason(exc)}") from None
        if self.cert is not None and self.key is not None:
            try:
                context.load_cert_chain(str(self.cert), str(self.key))
            except (OSError, ssl.SSLError) as exc:
                raise StartupError(
                    f"cannot load client certificate {self.cert} / {self.key}: {_reason(exc)}"
                ) from None
        return context


def cli_toml_path(env: Mapping[str, str]) -> Path:
    return home_dir(env) / ".fabro" / "cli.toml"


def resolve_client_settings(
    *,
    server: str | None = None,
    token: str | None = None,
    cert: str | Path | None = None,
    key: str | Path | None = None,
    ca: str | Path | None = None,
    data_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    cli_toml: Path | None = None,
) -> ClientSettings:
    """Flag > environment > cli.toml > (local server) > default, for each of server, token and
    TLS files. A local server is the one that recorded where it listens in the data directory
    (``data_dir``, else the configuration's); its JWT key there mints the fallback token."""
    env = os.environ if env is None else env
    path = cli_toml if cli_toml is not None else cli_toml_path(env)
    section = _read_cli_toml(path, env)
    local = _LocalServer(env, expand_home(data_dir, env) if data_dir is not None else None)

    base_url, server_source = DEFAULT_SERVER, "default"
    for source, value in (
        ("--server", server),
        ("FABRO_SERVER", env.get("FABRO_SERVER")),
        ("cli.toml", section.string("base_url")),
    ):
        if value:
            base_url, server_source = value, source
            break
    else:
        recorded = read_server_file(local.data_dir)
        if recorded is not None:
            base_url, server_source = recorded.url, str(server_file(local.data_dir))
    base_url = base_url.rstrip("/")

    if (cert is None) != (key is None):
        raise StartupError("--tls-cert and --tls-key must be given together")
    cert_path = expand_home(cert, env) if cert is not None else section.path("tls.cert")
    key_path = expand_home(key, env) if key is not None else section.path("tls.key")
    if (cert_path is None) != (key_path is None):
        raise StartupError(f"{path}: [server.tls] needs both cert and key")
    ca_path = expand_home(ca, env) if ca is not None else section.path("tls.ca")

    chosen: tuple[str | None, str | None] = (None, None)
    for source, value in (
        ("--token", token),
        ("FABRO_TOKEN", env.get("FABRO_TOKEN")),
        ("cli.toml", section.string("token")),
    ):
        if value:
            chosen = (value.strip(), source)
            break
    if chosen[0] is None and cert_path is None:
        auto = auto_token(env, local)
        if auto is not None:
            chosen = (auto, "auto")
    return ClientSettings(
        base_url=base_url,
        token=chosen[0],
        cert=cert_path,
        key=key_path,
        ca=ca_path,
        token_source=chosen[1],
        server_source=server_source,
    )


class _LocalServer:
    """The local server's data directory, issuer and audience, read from its configuration
    once and only when asked (a broken server.toml must not stop client commands)."""

    def __init__(self, env: Mapping[str, str], data_dir: Path | None) -> None:
        self.env = env
        flags = {"data_dir": str(data_dir)} if data_dir is not None else {}
        try:
            settings = load_settings(None, env, flags).settings
        except StartupError:
            self.data_dir = data_dir or expand_home(env.get("FABRO_DATA_DIR") or "~/.fabro", env)
            self.issuer: str = env.get("FABRO_JWT_ISSUER") or "fabro-web"
            self.audience: str | None = None
            return
        self.data_dir = settings.data_dir
        self.issuer = settings.api.jwt.issuer
        self.audience = settings.api.jwt.audience


def auto_token(env: Mapping[str, str], local: _LocalServer | None = None) -> str | None:
    """A 5-minute token for the OS user when a JWT private key is at hand, else None."""
    local = local or _LocalServer(env, None)
    data_dir, issuer, audience = local.data_dir, local.issuer, local.audience
    value = env.get(PRIVATE_KEY_ENV)
    try:
        if value:
            pem = pem_text(value)
        else:
            path = default_private_key_path(data_dir)
            if not path.exists():
                return None
            pem = read_key_file(path)
        private_key = parse_private_key(pem)
    except UnusableKeyError as exc:
        where = PRIVATE_KEY_ENV if value else str(default_private_key_path(data_dir))
        raise StartupError(f"cannot use the JWT private key {where}: {exc}") from None
    return mint_token(
        private_key,
        subject=getpass.getuser(),
        issuer=issuer,
        audience=audience,
        ttl_s=AUTO_TOKEN_TTL_S,
    )


def http_client(settings: ClientSettings, **kwargs: Any) -> httpx.Client:
    """A synchronous httpx client for the API with our credentials and TLS settings."""
    return httpx.Client(
        base_url=settings.base_url,
        headers=settings.headers(),
        verify=settings.ssl_context(),
        **kwargs,
    )


def async_http_client(settings: ClientSettings, **kwargs: Any) -> httpx.AsyncClient:
    """An asynchronous httpx client for the API with our credentials and TLS settings."""
    return httpx.AsyncClient(
        base_url=settings.base_url,
        headers=settings.headers(),
        verify=settings.ssl_context(),
        **kwargs,
    )


class _CliToml:
    """Typed access to cli.toml's [server] table; other keys are ignored (cli.md §6)."""

    def __init__(self, path: Path, server: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.file = path
        self.server = server
        self.env = env

    def _raw(self, dotted: str) -> Any:
        node: Any = self.server
        for part in dotted.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    def string(self, dotted: str) -> str | None:
        value = self._raw(dotted)
        if value is None:
            return None
        if not isinstance(value, str):
            raise StartupError(f"{self.file}: server.{dotted} must be a string")
        return value or None

    def path(self, dotted: str) -> Path | None:
        value = self.string(dotted)
        if value is None:
            return None
        resolved = expand_home(value, self.env)
        return resolved if resolved.is_absolute() else self.file.parent / resolved


def _read_cli_toml(path: Path, env: Mapping[str, str]) -> _CliToml:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _CliToml(path, {}, env)
    except OSError as exc:
        raise StartupError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StartupError(f"{path}: {exc}") from None
    server = document.get("server")
    return _CliToml(path, server if isinstance(server, Mapping) else {}, env)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
