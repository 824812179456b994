"""`fabro serve` as a real process: startup line, SQLite file, envelope, clean shutdown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import REPO_ROOT, base_env


def test_serve_answers_health_and_creates_the_database(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = fabro_server(data_dir=data_dir)
    assert server.stdout.splitlines()[0] == f"fabro server listening on {server.url}"
    with httpx.Client(base_url=server.url, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        nope = http.get("/nope")
        assert nope.status_code == 404
        assert nope.json() == {
            "errors": [{"status": "404", "title": "Not Found", "detail": "Not found."}]
        }
        malformed = http.post("/runs", content=b"{", headers={"Content-Type": "application/json"})
        assert malformed.status_code == 401  # authentication comes before the body
        assert malformed.json()["errors"][0]["title"] == "Unauthorized"
    assert (data_dir / "fabro.db").is_file()
    assert oct(data_dir.stat().st_mode & 0o777) == "0o700"
    assert server.stop() == 0
    assert "Traceback" not in server.stderr


def _serve(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fabro", "serve", *args],
        cwd=REPO_ROOT,
        env=base_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_explicit_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = _serve(["--config", str(tmp_path / "nope.toml")], tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"error: config file not found: {tmp_path / 'nope.toml'}\n"


def test_malformed_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[api]\nauthentication_strategies = ["jwt"\nx = 1\n', encoding="utf-8")
    result = _serve(["--config", str(config)], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {config}:")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_unknown_provider_flag_is_a_usage_error(tmp_path: Path) -> None:
    result = _serve(["--provider", "acme"], tmp_path)
    assert result.returncode == 2
    assert "--provider" in result.stderr
