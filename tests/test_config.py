"""server.toml loading, precedence through the OPTIONS table, errors and hot reload."""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from fabro.config import (
    DEFAULT_COMMAND_ENV,
    OPTIONS,
    LimitsSettings,
    LlmSettings,
    load_settings,
)
from fabro.config_file import load_dotenv
from fabro.config_watch import ConfigWatcher
from fabro.errors import StartupError

# One valid raw value per option for each source, and the typed value it must produce.
SAMPLES: dict[str, tuple[Any, Any, Any]] = {
    # name: (file value as TOML text, env/flag raw value, expected typed value for env/flag)
    "data_dir": ('"/srv/file-data"', "/srv/other", Path("/srv/other")),
    "workflows_dir": ('"/srv/file-wf"', "/srv/wf", Path("/srv/wf")),
    "max_concurrent_runs": ("7", "9", 9),
    "host": (None, "0.0.0.0", "0.0.0.0"),
    "port": (None, "8123", 8123),
    "llm_model": ('"file-model"', "env-model", "env-model"),
    "llm_provider": ('"openai"', "anthropic", "anthropic"),
    "log_level": ('"debug"', "error", "error"),
    "access_log": ("true", "false", False),
    "jwt_issuer": ('"file-iss"', "env-iss", "env-iss"),
}

FILE_EXPECTED: dict[str, Any] = {
    "data_dir": Path("/srv/file-data"),
    "workflows_dir": Path("/srv/file-wf"),
    "max_concurrent_runs": 7,
    "llm_model": "file-model",
    "llm_provider": "openai",
    "log_level": "debug",
    "access_log": True,
    "jwt_issuer": "file-iss",
}


def read(settings: Any, name: str) -> Any:
    return {
        "llm_model": lambda s: s.llm.model,
        "llm_provider": lambda s: s.llm.provider,
        "jwt_issuer": lambda s: s.api.jwt.issuer,
    }.get(name, lambda s: getattr(s, name))(settings)


def toml_for(option_key: str, value: str) -> str:
    table, _, leaf = option_key.rpartition(".")
    return (f"[{table}]\n" if table else "") + f"{leaf} = {value}\n"


def test_options_table_covers_every_sample() -> None:
    assert {option.name for option in OPTIONS} == set(SAMPLES)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path, option: Any) -> None:
    file_value, raw, expected = SAMPLES[option.name]
    config = tmp_path / "server.toml"
    config.write_text(toml_for(option.key, file_value) if option.key else "", encoding="utf-8")
    env = {"HOME": str(tmp_path)}
    if option.key:
        assert read(load_settings(config, env).settings, option.name) == FILE_EXPECTED[option.name]
    if option.env:
        got = load_settings(config, {**env, option.env: raw}).settings
        assert read(got, option.name) == expected
    if option.flag:
        flag_raw = int(raw) if isinstance(expected, int) else raw
        both = {**env, option.env: "garbage-that-must-lose"} if option.env else env
        if option.name == "llm_provider" and option.env:
            both = {**env, option.env: "gemini"}
        got = load_settings(config, both, {option.flag: flag_raw}).settings
        assert read(got, option.name) == expected


def test_defaults_without_any_source(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("", encoding="utf-8")
    loaded = load_settings(config, {"HOME": str(tmp_path)})
    s = loaded.settings
    assert s.data_dir == tmp_path / ".fabro"  # `~` is the HOME of the env given, not ours
    assert s.workflows_dir == s.data_dir / "workflows"
    assert (s.max_concurrent_runs, s.host, s.port, s.log_level) == (5, "127.0.0.1", 3000, "info")
    assert s.api.base_url == "http://localhost:3000"
    assert s.api.authentication_strategies == ()
    assert s.api.jwt.issuer == "fabro-web" and s.api.jwt.audience is None
    assert s.web.url == "http://localhost:5173" and s.web.auth.provider == "github"
    assert s.web.auth.allowed_usernames == ()
    assert s.llm == LlmSettings()
    assert s.limits == LimitsSettings()
    assert s.commands.env_allowlist == DEFAULT_COMMAND_ENV and s.redaction.secret_env == ()
    assert (
        "No authentication strategies configured; all requests will be rejected" in loaded.warnings
    )


def test_tilde_and_relative_paths(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "server.toml"
    config.parent.mkdir()
    config.write_text('data_dir = "data"\nworkflows_dir = "~/wf"\n', encoding="utf-8")
    s = load_settings(config, {"HOME": str(tmp_path)}).settings
    assert s.data_dir == tmp_path / "etc" / "data"
    assert s.workflows_dir == tmp_path / "wf"


def test_every_tilde_is_the_home_of_the_env_given(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "server.toml").write_text(
        'data_dir = "~/d"\n[api.tls]\ncert = "~/c.pem"\nkey = "~/k.pem"\nca = "~"\n'
        '[api.jwt]\npublic_key_file = "~/pub.pem"\n',
        encoding="utf-8",
    )
    env = {"HOME": str(home), "FABRO_CONFIG": "~/conf/server.toml", "FABRO_WORKFLOWS_DIR": "~/w"}
    s = load_settings(None, env).settings
    assert s.config_path == home / "conf" / "server.toml"
    assert (s.data_dir, s.workflows_dir) == (home / "d", home / "w")
    assert s.api.tls is not None
    assert (s.api.tls.cert, s.api.tls.key, s.api.tls.ca) == (home / "c.pem", home / "k.pem", home)
    assert s.api.jwt.public_key_file == home / "pub.pem"
    flagged = load_settings(None, env, {"data_dir": "~/flag"}).settings
    assert flagged.data_dir == home / "flag"
    # A name that merely starts with `~` (no such account) is a relative path, as in a shell.
    unknown = load_settings(None, env, {"data_dir": "~no-such-user"}).settings
    assert unknown.data_dir == home / "conf" / "~no-such-user"


def test_missing_explicit_config_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(StartupError, match=f"^config file not found: {missing}$"):
        load_settings(missing, {"HOME": str(tmp_path)})
    with pytest.raises(StartupError, match="config file not found"):
        load_settings(None, {"HOME": str(tmp_path), "FABRO_CONFIG": str(missing)})


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('max_concurrent_runs = 3\n\ndata_dir = "unterminated\n', encoding="utf-8")
    with pytest.raises(StartupError) as info:
        load_settings(config, {"HOME": str(tmp_path)})
    assert str(info.value).startswith(f"{config}:3:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '\n\nmax_concurrent_runs = "five"\n',
            ':3: max_concurrent_runs must be an integer between 1 and 1000 (got "five")',
        ),
        (
            "max_concurrent_runs = 0\n",
            ":1: max_concurrent_runs must be an integer between 1 and 1000 (got 0)",
        ),
        (
            '[log]\n# c\nlevel = "loud"\n',
            ':3: log.level must be one of "debug", "info", "warning", "error"',
        ),
        (
            '[api]\nauthentication_strategies = ["jwt", "jwt"]\n',
            ":2: api.authentication_strategies must be",
        ),
        (
            '[api]\nauthentication_strategies = ["basic"]\n',
            ":2: api.authentication_strategies must be",
        ),
        (
            '[web.auth]\nallowed_usernames = "alice"\n',
            ':2: web.auth.allowed_usernames must be an array of strings (got "alice")',
        ),
        ('[web.auth]\nprovider = "gitlab"\n', ":2: web.auth.provider must be one of"),
        ('[llm]\nprovider = "acme"\n', ":2: llm.provider must be one of"),
        ("[api.jwt]\naudience = 5\n", ":2: api.jwt.audience must be a non-empty string (got 5)"),
        (
            "max_concurrent_runs = 99999999999999999999999\n",
            ":1: max_concurrent_runs must be an integer between 1 and 1000",
        ),
        (
            "[limits]\nmax_nodes = 1\n",
            ":2: limits.max_nodes must be an integer between 2 and 1000000 (got 1)",
        ),
        (
            "[limits]\n\nmax_expanded_bytes = 20000000\n",
            ":3: limits.max_expanded_bytes must be an integer between 1024 and 10485760",
        ),
        (
            "[commands]\nenv_allowlist = 'PATH'\n",
            ":2: commands.env_allowlist must be an array of strings",
        ),
        ("[redaction]\nsecret_env = [1]\n", ":2: redaction.secret_env must be an array of"),
        ("[log]\naccess = 1\n", ":2: log.access must be true or false"),
    ],
)
def test_type_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "server.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(StartupError) as info:
        load_settings(config, {"HOME": str(tmp_path)})
    assert str(info.value).startswith(f"{config}{message}")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FABRO_PORT", "x", 'FABRO_PORT must be an integer between 1 and 65535 (got "x")'),
        ("FABRO_PORT", "70000", "FABRO_PORT must be an integer between 1 and 65535"),
        (
            "FABRO_MAX_CONCURRENT_RUNS",
            "0",
            "FABRO_MAX_CONCURRENT_RUNS must be an integer between 1 and 1000",
        ),
        ("FABRO_LOG", "verbose", "FABRO_LOG must be one of"),
        ("FABRO_PROVIDER", "acme", "FABRO_PROVIDER must be one of"),
        ("FABRO_ACCESS_LOG", "maybe", 'FABRO_ACCESS_LOG must be true or false (got "maybe")'),
    ],
)
def test_environment_errors_name_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    config = tmp_path / "server.toml"
    config.write_text("", encoding="utf-8")
    with pytest.raises(StartupError) as info:
        load_settings(config, {"HOME": str(tmp_path), variable: value})
    assert str(info.value).startswith(message)


def test_unknown_keys_warn_by_dotted_name_and_ignored_keys_do_not(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        'bar = 1\ndirectory = "x"\n[api]\nfoo = 2\n[git]\nremote = "o"\n[llm]\nfallbacks = []\n',
        encoding="utf-8",
    )
    loaded = load_settings(config, {"HOME": str(tmp_path)})
    assert f"{config}: unknown keys ignored: api.foo, bar" in loaded.warnings


def test_tls_and_mtls_requirements(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[api.tls]\ncert = "s.crt"\n', encoding="utf-8")
    with pytest.raises(StartupError, match="needs both cert and key"):
        load_settings(config, {"HOME": str(tmp_path)})
    config.write_text('[api]\nauthentication_strategies = ["mtls"]\n', encoding="utf-8")
    with pytest.raises(
        StartupError,
        match=r"^the mtls authentication strategy requires \[api.tls\] with cert, key and ca$",
    ):
        load_settings(config, {"HOME": str(tmp_path)})
    config.write_text(
        '[api]\nauthentication_strategies = ["mtls"]\n'
        '[api.tls]\ncert = "s.crt"\nkey = "s.key"\nca = "ca.crt"\nallowed_common_names = ["a"]\n',
        encoding="utf-8",
    )
    tls = load_settings(config, {"HOME": str(tmp_path)}).settings.api.tls
    assert tls is not None and tls.ca == tmp_path / "ca.crt" and tls.allowed_common_names == ("a",)


def test_zero_config_when_default_file_is_absent(tmp_path: Path) -> None:
    loaded = load_settings(None, {"HOME": str(tmp_path)})
    s = loaded.settings
    assert s.zero_config and s.config_path is None
    assert s.api.authentication_strategies == ("jwt",)
    assert s.web.auth.allowed_usernames == (getpass.getuser(),)
    assert s.host == "127.0.0.1"
    assert loaded.warnings == ()


def test_default_config_path_is_used_when_present(tmp_path: Path) -> None:
    (tmp_path / ".fabro").mkdir()
    (tmp_path / ".fabro" / "server.toml").write_text("max_concurrent_runs = 2\n", encoding="utf-8")
    s = load_settings(None, {"HOME": str(tmp_path)}).settings
    assert not s.zero_config and s.max_concurrent_runs == 2


def test_dotenv_does_not_override_existing_variables(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nA=1\nexport B="two"\nC=3\n', encoding="utf-8")
    environ = {"C": "kept"}
    load_dotenv(dotenv, environ)
    assert environ == {"A": "1", "B": "two", "C": "kept"}
    load_dotenv(tmp_path / "missing", environ)  # absent file: nothing happens


def test_hot_reload_applies_llm_and_warns_about_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[llm]\nmodel = "a"\n', encoding="utf-8")
    settings = load_settings(config, {"HOME": str(tmp_path)}).settings
    applied: list[LlmSettings] = []
    watcher = ConfigWatcher(settings, {"HOME": str(tmp_path)}, {}, applied.append)
    assert watcher.check_once() is False  # unchanged

    caplog.set_level(logging.INFO)
    config.write_text(
        'max_concurrent_runs = 3\n[llm]\nmodel = "b"\nprovider = "openai"\n', encoding="utf-8"
    )
    os.utime(config, (1, 1))
    assert watcher.check_once() is True
    assert applied == [LlmSettings(model="b", provider="openai")]
    assert f"reloaded [llm] from {config}" in caplog.text
    assert "change to max_concurrent_runs needs a restart" in caplog.text

    config.write_text("[llm\n", encoding="utf-8")  # invalid: logged, previous config stays
    os.utime(config, (2, 2))
    assert watcher.check_once() is True
    assert len(applied) == 1 and watcher.current.llm.model == "b"
    assert f"{config}:1:" in caplog.text


def test_env_model_override_beats_hot_reloaded_file(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[llm]\nmodel = "a"\n', encoding="utf-8")
    env = {"HOME": str(tmp_path), "FABRO_MODEL": "pinned"}
    settings = load_settings(config, env).settings
    applied: list[LlmSettings] = []
    watcher = ConfigWatcher(settings, env, {}, applied.append)
    config.write_text('[llm]\nmodel = "b"\n', encoding="utf-8")
    os.utime(config, (5, 5))
    watcher.check_once()
    assert applied == [] and watcher.current.llm.model == "pinned"


def test_limits_commands_and_redaction_come_from_the_file(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        "[limits]\nmax_source_bytes = 2048\nmax_nodes = 10\nmax_edges = 20\n"
        "max_expanded_bytes = 4096\n"
        '[commands]\nenv_allowlist = ["PATH"]\n[redaction]\nsecret_env = ["MY_PASS"]\n',
        encoding="utf-8",
    )
    loaded = load_settings(config, {"HOME": str(tmp_path)})
    s = loaded.settings
    assert s.limits == LimitsSettings(2048, 10, 20, 4096)
    assert s.commands.env_allowlist == ("PATH",)
    assert s.redaction.secret_env == ("MY_PASS",)
    assert not any("unknown" in warning for warning in loaded.warnings)


def test_the_example_config_loads_without_warnings(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "server.toml.example"
    loaded = load_settings(example, env={"HOME": str(tmp_path)})
    # Every key is known; the one warning is the example's own choice of no strategy.
    assert loaded.warnings == (
        "No authentication strategies configured; all requests will be rejected",
    )
    assert loaded.settings.governance.rate_limits.reads == 6000
