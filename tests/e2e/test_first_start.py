"""Zero-config first start (config-and-auth.md §5) with a real `fabro serve` subprocess."""

from __future__ import annotations

import getpass
import os
import select
import stat
import subprocess
import sys
from pathlib import Path

import jwt

from fabro.auth.keys import ensure_key_pair, mint_token, public_key_pem
from tests.e2e.banner import banner_token
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import LISTENING, REPO_ROOT, base_env, free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_prints_a_working_token(fabro_server: StartServer, tmp_path: Path) -> None:
    server = fabro_server(workdir=tmp_path / "first")
    assert server.url.startswith("http://127.0.0.1:")
    token = banner_token(server)

    data_dir = tmp_path / "first" / "home" / ".fabro"
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "keys") == 0o700
    assert mode(data_dir / "keys" / "jwt_ed25519.pem") == 0o600
    assert mode(data_dir / "keys" / "jwt_ed25519.pub.pem") == 0o644
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == getpass.getuser() and claims["iss"] == "fabro-web"
    assert claims["exp"] - claims["iat"] == 24 * 3600

    with server.client(token=token) as http:
        assert http.get("/user").json() == {"login": getpass.getuser()}
        assert http.get("/runs").status_code not in (401, 403)
    with server.client() as http:
        anonymous = http.get("/runs")
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["detail"] == "Authentication required."


def test_the_listening_line_and_the_token_block_arrive_in_one_write(tmp_path: Path) -> None:
    # A pipe delivers a write of up to 4 KiB whole: the first read holds the whole block only if
    # the server wrote it at once, so a reader that waits for the listening line (a script, the
    # e2e harness) never reads half a banner.
    home = tmp_path / "home"
    home.mkdir()
    command = [sys.executable, "-m", "fabro", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(free_port())]
    with (tmp_path / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=base_env(home), stdout=subprocess.PIPE, stderr=stderr
        )
    assert process.stdout is not None
    try:
        readable, _, _ = select.select([process.stdout], [], [], 30)
        assert readable, "fabro serve printed nothing in 30 s"
        first = os.read(process.stdout.fileno(), 65536).decode()
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
    lines = first.splitlines()
    assert lines[0].startswith(LISTENING), (first, (tmp_path / "stderr.log").read_text())
    assert len(lines) == 11 and lines[7] == "New token later:  fabro token", first
    assert lines[-2].startswith("  Sign in to the web UI: http://127.0.0.1:"), first
    assert first.endswith("\n")


def test_restart_reuses_the_keys_and_fabro_token_works(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "again"
    first = fabro_server(workdir=workdir)
    old_token = banner_token(first)
    keys = workdir / "home" / ".fabro" / "keys"
    private_before = (keys / "jwt_ed25519.pem").read_bytes()
    first.stop()

    second = fabro_server(workdir=workdir)
    assert (keys / "jwt_ed25519.pem").read_bytes() == private_before
    minted = subprocess.run(
        [sys.executable, "-m", "fabro", "token", "--ttl", "10m"],
        cwd=REPO_ROOT,
        env=base_env(workdir / "home"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert minted.count("\n") == 1
    with second.client(token=old_token) as http:
        assert http.get("/user").status_code == 200
    with second.client(token=minted.strip()) as http:
        assert http.get("/user").json() == {"login": getpass.getuser()}


def test_binds_localhost_only(fabro_server: StartServer, tmp_path: Path) -> None:
    server = fabro_server(workdir=tmp_path / "bind")
    assert server.url.startswith("http://127.0.0.1:")


def test_an_env_public_key_means_a_note_and_no_token(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    foreign = Ed25519PrivateKey.generate()
    env = {"FABRO_JWT_PUBLIC_KEY": public_key_pem(foreign.public_key()).decode()}
    server = fabro_server(workdir=tmp_path / "envkey", env=env)
    out = server.stdout
    assert "No server.toml found: zero-config mode" in out
    assert "FABRO_JWT_PUBLIC_KEY is set" in out
    assert "eyJ" not in out
    token = mint_token(foreign, subject=getpass.getuser(), issuer="fabro-web", ttl_s=60)
    with server.client(token=token) as http:
        assert http.get("/user").json() == {"login": getpass.getuser()}
    # The data-dir key pair exists (step 2 always runs) but is not the one trusted now.
    own = ensure_key_pair(tmp_path / "envkey" / "home" / ".fabro" / "keys")
    own_token = mint_token(own, subject=getpass.getuser(), issuer="fabro-web", ttl_s=60)
    with server.client(token=own_token) as http:
        assert http.get("/user").status_code == 401


def test_a_server_toml_without_usable_jwt_key_fails_in_one_line(
    fabro_server: StartServer, tmp_path: Path
) -> None:
    from tests.e2e.serverproc import ServerStartError

    config = '[api]\nauthentication_strategies = ["jwt"]\n'
    try:
        fabro_server(workdir=tmp_path / "nokey", config=config, ready_timeout_s=15)
    except ServerStartError:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("the server started without a JWT public key")
    stderr = (tmp_path / "nokey" / "stderr.log").read_text()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(
        "error: the jwt authentication strategy needs an Ed25519 public key: set "
        "FABRO_JWT_PUBLIC_KEY or api.jwt.public_key_file ("
    ), stderr
    assert "Traceback" not in stderr
