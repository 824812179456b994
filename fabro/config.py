"""Server settings: server.toml, then `FABRO_*` variables, then CLI flags (config-and-auth.md).

Settings are frozen dataclasses. Every key that can come from more than one place is listed
once in ``OPTIONS`` (file key, environment variable, CLI flag, validator), and ``load_settings``
walks that table, so precedence is decided in one spot and a test can walk every row.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fabro import config_file
from fabro import config_values as valid
from fabro.errors import StartupError
from fabro.governance.settings import GOVERNANCE_TABLES, GovernanceSettings, read_governance
from fabro.home import expand_home, home_dir

log = logging.getLogger(__name__)

KNOWN_PROVIDERS = ("anthropic", "openai", "gemini", "kimi", "zai", "minimax", "inception")
AUTH_STRATEGIES = ("jwt", "mtls")
LOG_LEVELS = ("debug", "info", "warning", "error")
WEB_AUTH_PROVIDERS = ("github", "insecure_disabled")
MAX_CONCURRENT_RUNS = 1_000
MAX_BODY_BYTES = 10 * 1024 * 1024  # the largest request body the API reads

# Keys of the original server that fabro accepts and does not use (config-and-auth.md §2).
IGNORED_KEYS = frozenset(
    {
        "directory",
        "vars",
        "git",
        "feature_flags",
        "setup",
        "sandbox",
        "checkpoint",
        "pull_request",
        "assets",
        "hooks",
        "llm.fallbacks",
    }
)


@dataclass(frozen=True)
class TlsSettings:
    cert: Path
    key: Path
    ca: Path | None = None
    allowed_common_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JwtSettings:
    issuer: str = "fabro-web"
    audience: str | None = None
    public_key_file: Path | None = None


@dataclass(frozen=True)
class ApiSettings:
    base_url: str = "http://localhost:3000"
    authentication_strategies: tuple[str, ...] = ()
    tls: TlsSettings | None = None
    jwt: JwtSettings = field(default_factory=JwtSettings)


@dataclass(frozen=True)
class WebAuthSettings:
    provider: str = "github"
    allowed_usernames: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSettings:
    url: str = "http://localhost:5173"
    auth: WebAuthSettings = field(default_factory=WebAuthSettings)


@dataclass(frozen=True)
class LlmSettings:
    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class LimitsSettings:
    """Bounds on what one request may make the server hold (issue 13: untrusted input)."""

    max_source_bytes: int = 1024 * 1024  # DOT source of a submitted or registry workflow
    max_nodes: int = 5_000
    max_edges: int = 20_000
    max_expanded_bytes: int = 256 * 1024  # one value (goal, prompt, script) after $var expansion


# What a command stage inherits from the server's environment; everything else is withheld so
# that provider keys and tokens never reach a workflow's programs.
DEFAULT_COMMAND_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TERM",
)


@dataclass(frozen=True)
class CommandSettings:
    env_allowlist: tuple[str, ...] = DEFAULT_COMMAND_ENV


@dataclass(frozen=True)
class RedactionSettings:
    # Names of environment variables whose values are secrets, besides the built-in ones.
    secret_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one `fabro` process."""

    data_dir: Path
    workflows_dir: Path
    max_concurrent_runs: int = 5
    host: str = "127.0.0.1"
    port: int = 3000
    dry_run: bool = False
    log_level: str = "info"
    access_log: bool = False  # one log line per request
    api: ApiSettings = field(default_factory=ApiSettings)
    web: WebSettings = field(default_factory=WebSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    config_path: Path | None = None  # None: zero-config mode (no server.toml found)

    @property
    def zero_config(self) -> bool:
        return self.config_path is None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "fabro.db"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def scheme(self) -> str:
        return "https" if self.api.tls else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    warnings: tuple[str, ...] = ()


def _strategies(value: Any) -> tuple[str, ...]:
    items = valid.string_list(value)
    expectation = 'an array of "jwt" / "mtls" without duplicates'
    if any(item not in AUTH_STRATEGIES for item in items) or len(set(items)) != len(items):
        raise valid.Invalid(expectation)
    return items


# ---------------------------------------------------------------------------------------------
# The one table of settings that can come from the file, the environment or a CLI flag.


@dataclass(frozen=True)
class Option:
    key: str  # dotted key in server.toml ("" when the file cannot set it)
    env: str | None
    flag: str | None  # name of the click parameter of `fabro serve`
    validate: valid.Validator
    name: str  # attribute in the flat values dict

    @property
    def label(self) -> str:
        return self.key or self.name


OPTIONS: tuple[Option, ...] = (
    Option("data_dir", "FABRO_DATA_DIR", "data_dir", valid.path, "data_dir"),
    Option("workflows_dir", "FABRO_WORKFLOWS_DIR", "workflows_dir", valid.path, "workflows_dir"),
    Option(
        "max_concurrent_runs",
        "FABRO_MAX_CONCURRENT_RUNS",
        "max_concurrent_runs",
        valid.int_in(1, MAX_CONCURRENT_RUNS),
        "max_concurrent_runs",
    ),
    Option("", "FABRO_HOST", "host", valid.nonempty_string, "host"),
    Option("", "FABRO_PORT", "port", valid.port, "port"),
    Option("llm.model", "FABRO_MODEL", "model", valid.nonempty_string, "llm_model"),
    Option(
        "llm.provider", "FABRO_PROVIDER", "provider", valid.one_of(*KNOWN_PROVIDERS), "llm_provider"
    ),
    Option("log.level", "FABRO_LOG", None, valid.one_of(*LOG_LEVELS), "log_level"),
    Option("log.access", "FABRO_ACCESS_LOG", None, valid.boolean, "access_log"),
    Option("api.jwt.issuer", "FABRO_JWT_ISSUER", None, valid.nonempty_string, "jwt_issuer"),
)

# Keys only the file can set, with their validators.
FILE_ONLY: dict[str, valid.Validator] = {
    "limits.max_source_bytes": valid.int_in(1024, MAX_BODY_BYTES),
    "limits.max_nodes": valid.int_in(2, 1_000_000),
    "limits.max_edges": valid.int_in(1, 10_000_000),
    "limits.max_expanded_bytes": valid.int_in(1024, MAX_BODY_BYTES),
    "commands.env_allowlist": valid.string_list,
    "redaction.secret_env": valid.string_list,
    "api.base_url": valid.string,
    "api.authentication_strategies": _strategies,
    "api.tls.cert": valid.path,
    "api.tls.key": valid.path,
    "api.tls.ca": valid.path,
    "api.tls.allowed_common_names": valid.string_list,
    "api.jwt.audience": valid.nonempty_string,
    "api.jwt.public_key_file": valid.path,
    "web.url": valid.string,
    "web.auth.provider": valid.one_of(*WEB_AUTH_PROVIDERS),
    "web.auth.allowed_usernames": valid.string_list,
}
_FILE_KEYS = {option.key: option for option in OPTIONS if option.key}
_TABLES = {
    "api",
    "api.tls",
    "api.jwt",
    "web",
    "web.auth",
    "llm",
    "log",
    "limits",
    "commands",
    "redaction",
}


def default_config_path(env: Mapping[str, str]) -> Path:
    return home_dir(env) / ".fabro" / "server.toml"


def load_settings(
    config: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Build the effective settings: CLI flag > environment > server.toml > default."""
    env = os.environ if env is None else env
    flags = {name: value for name, value in (flags or {}).items() if value is not None}
    explicit = config if config is not None else env.get("FABRO_CONFIG")
    path = expand_home(explicit, env) if explicit else default_config_path(env)
    if explicit and not path.is_file():
        raise StartupError(f"config file not found: {path}")

    warnings: list[str] = []
    document: dict[str, Any] = {}
    config_path: Path | None = None
    if path.is_file():
        config_path = path.resolve()
        document = config_file.read_toml(config_path)
        warnings.extend(_unknown_key_warnings(config_path, document))
    source = config_file.FileSource(config_path, document)
    base = config_path.parent if config_path else Path.cwd()

    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.flag and option.flag in flags:
            values[option.name] = _checked(option.validate, flags[option.flag], f"--{option.flag}")
        elif option.env and env.get(option.env) not in (None, ""):
            values[option.name] = _checked(option.validate, env[option.env], option.env)
        elif option.key and source.has(option.key):
            values[option.name] = source.get(option.key, option.validate)

    def file_path(key: str) -> Path | None:
        raw = source.get(key, FILE_ONLY[key]) if source.has(key) else None
        return _resolve(raw, base, env) if raw is not None else None

    data_dir = _resolve(values.get("data_dir", "~/.fabro"), base, env)
    workflows_dir = (
        _resolve(values["workflows_dir"], base, env)
        if "workflows_dir" in values
        else data_dir / "workflows"
    )

    tls: TlsSettings | None = None
    if source.has_table("api.tls"):
        cert, key = file_path("api.tls.cert"), file_path("api.tls.key")
        if cert is None or key is None:
            missing = "api.tls.cert" if cert is None else "api.tls.key"
            raise StartupError(
                f"{config_path}: [api.tls] needs both cert and key ({missing} is missing)"
            )
        names = (
            source.get("api.tls.allowed_common_names", valid.string_list)
            if source.has("api.tls.allowed_common_names")
            else None
        )
        tls = TlsSettings(
            cert=cert, key=key, ca=file_path("api.tls.ca"), allowed_common_names=names
        )

    strategies: tuple[str, ...] = (
        source.get("api.authentication_strategies", _strategies)
        if source.has("api.authentication_strategies")
        else ()
    )
    allowed_usernames: tuple[str, ...] = (
        source.get("web.auth.allowed_usernames", valid.string_list)
        if source.has("web.auth.allowed_usernames")
        else ()
    )
    if config_path is None:
        # Zero-config mode (§5): JWT for the current OS user, safe by default.
        strategies = ("jwt",)
        allowed_usernames = (getpass.getuser(),)
    if "mtls" in strategies and (tls is None or tls.ca is None):
        raise StartupError(
            "the mtls authentication strategy requires [api.tls] with cert, key and ca"
        )

    jwt = JwtSettings(
        issuer=values.get("jwt_issuer", "fabro-web"),
        audience=source.get("api.jwt.audience", valid.nonempty_string)
        if source.has("api.jwt.audience")
        else None,
        public_key_file=file_path("api.jwt.public_key_file"),
    )
    api = ApiSettings(
        base_url=source.get("api.base_url", valid.string)
        if source.has("api.base_url")
        else ApiSettings.base_url,
        authentication_strategies=strategies,
        tls=tls,
        jwt=jwt,
    )
    web = WebSettings(
        url=source.get("web.url", valid.string) if source.has("web.url") else WebSettings.url,
        auth=WebAuthSettings(
            provider=source.get("web.auth.provider", valid.one_of(*WEB_AUTH_PROVIDERS))
            if source.has("web.auth.provider")
            else WebAuthSettings.provider,
            allowed_usernames=allowed_usernames,
        ),
    )

    def file_value(key: str, default: Any) -> Any:
        return source.get(key, FILE_ONLY[key]) if source.has(key) else default

    limits = LimitsSettings(
        **{
            name: file_value(f"limits.{name}", getattr(LimitsSettings, name))
            for name in LimitsSettings.__dataclass_fields__
        }
    )
    settings = Settings(
        data_dir=data_dir,
        workflows_dir=workflows_dir,
        max_concurrent_runs=values.get("max_concurrent_runs", 5),
        host=values.get("host", "127.0.0.1"),
        port=values.get("port", 3000),
        dry_run=bool(flags.get("dry_run", False)),
        log_level=values.get("log_level", "info"),
        access_log=values.get("access_log", False),
        api=api,
        web=web,
        llm=LlmSettings(model=values.get("llm_model"), provider=values.get("llm_provider")),
        limits=limits,
        commands=CommandSettings(
            env_allowlist=file_value("commands.env_allowlist", DEFAULT_COMMAND_ENV)
        ),
        redaction=RedactionSettings(secret_env=file_value("redaction.secret_env", ())),
        governance=read_governance(source, base, env, zero_config=config_path is None),
        config_path=config_path,
    )
    if not strategies:
        warnings.append("No authentication strategies configured; all requests will be rejected")
    return LoadedSettings(settings=settings, warnings=tuple(warnings))


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with top-level fields replaced (tests and zero-config use it)."""
    return replace(settings, **changes)


def _resolve(raw: str, base: Path, env: Mapping[str, str]) -> Path:
    path = expand_home(raw, env)
    return path if path.is_absolute() else (base / path).resolve()


def _checked(validate: valid.Validator, raw: Any, source_name: str) -> Any:
    try:
        return validate(raw)
    except valid.Invalid as exc:
        raise StartupError(f"{source_name} must be {exc} (got {config_file.show(raw)})") from None


def _unknown_key_warnings(path: Path, document: dict[str, Any]) -> list[str]:
    known = set(_FILE_KEYS) | set(FILE_ONLY)
    unknown: list[str] = []
    ignored: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if dotted in GOVERNANCE_TABLES:
                continue  # its own reader checks it (fabro/governance/settings.py)
            if dotted in IGNORED_KEYS:
                ignored.append(dotted)
            elif dotted in _TABLES and isinstance(value, dict):
                walk(value, dotted + ".")
            elif dotted not in known:
                unknown.append(dotted)

    walk(document, "")
    if ignored:
        log.info("%s: keys of the original server ignored: %s", path, ", ".join(sorted(ignored)))
    if unknown:
        return [f"{path}: unknown keys ignored: {', '.join(sorted(unknown))}"]
    return []
