"""Finding 9: startup that lies. Each problem stops `fabro serve` with one line, not a
traceback and not a server that looks healthy and then answers 500 to every write.

The read-only cases run the server as another user (root bypasses permission bits): as
`nobody` through setpriv when the test runs as root, as the test's own user otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabro.config import FILE_ONLY, OPTIONS
from fabro.storage.db import Database
from tests.e2e.runs_support import server_toml, token_for
from tests.e2e.serverproc import LISTENING, REPO_ROOT, base_env, free_port

NOBODY = 65534
EXIT_WAIT_S = 30.0


@dataclass(frozen=True)
class Ended:
    returncode: int | None  # None: it did not stop by itself (it started serving)
    stdout: str
    stderr: str


def serve(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    as_user: list[str] | None = None,
) -> Ended:
    """Run `fabro serve`; stop it if it gets to listening (the startup did not refuse)."""
    command = [sys.executable, "-m", "fabro", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(free_port()), *args]
    out, err = workdir / "stdout.log", workdir / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*(as_user or []), *command],
            cwd=REPO_ROOT,
            env=base_env(workdir / "home", env),
            stdout=stdout,
            stderr=stderr,
        )
    deadline = time.monotonic() + EXIT_WAIT_S
    while process.poll() is None and time.monotonic() < deadline:
        if LISTENING in out.read_text(encoding="utf-8", errors="replace"):
            break
        time.sleep(0.05)
    returncode = process.poll()
    if returncode is None:
        process.terminate()
        process.wait(10)
    return Ended(returncode, out.read_text(errors="replace"), err.read_text(errors="replace"))


def assert_one_line(ended: Ended, *parts: str) -> None:
    assert ended.returncode not in (None, 0), f"startup did not refuse:\n{ended.stderr}"
    lines = ended.stderr.splitlines()
    assert len(lines) == 1, ended.stderr
    assert lines[0].startswith("error: "), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path


# ---- settings out of range, files that are not UTF-8 ----------------------------------------


@pytest.mark.parametrize(
    ("toml", "env", "flags", "parts"),
    [
        ("max_concurrent_runs = 1000000\n", {}, [], ["max_concurrent_runs", "1 and 1000"]),
        ("", {"FABRO_MAX_CONCURRENT_RUNS": "99999999999999999999"}, [], ["1 and 1000"]),
        ("", {}, ["--max-concurrent-runs", "0"], ["--max_concurrent_runs", "1 and 1000"]),
        ("[limits]\nmax_nodes = 0\n", {}, [], ["limits.max_nodes", "between 2 and"]),
        ("[limits]\nmax_expanded_bytes = 1e9\n", {}, [], ["limits.max_expanded_bytes"]),
        (f"max_concurrent_runs = {'9' * 5000}\n", {}, [], ["4300 digits"]),
    ],
    ids=["file", "env", "flag", "limits", "float", "huge-integer"],
)
def test_an_out_of_range_setting_stops_startup_naming_the_key_and_the_range(
    workdir: Path, toml: str, env: dict[str, str], flags: list[str], parts: list[str]
) -> None:
    config = workdir / "server.toml"
    config.write_text(toml, encoding="utf-8")
    ended = serve(
        workdir, "--config", str(config), "--data-dir", str(workdir / "data"), *flags, env=env
    )
    assert_one_line(ended, *parts)


def test_every_numeric_setting_has_a_range() -> None:
    """No key takes a huge number (or a negative one) as it is: each validator refuses them."""
    validators = {option.label: option.validate for option in OPTIONS}
    validators |= FILE_ONLY
    for key, validate in validators.items():
        for value in (10**18, -1, str(10**18)):
            try:
                accepted = validate(value)
            except Exception as exc:  # Invalid, with the expectation in its message
                assert type(exc).__name__ == "Invalid", (key, exc)
            else:
                assert not isinstance(accepted, int), f"{key} accepts {value!r}"


def test_a_config_file_that_is_not_utf8_is_one_line(workdir: Path) -> None:
    config = workdir / "server.toml"
    config.write_bytes(b"max_concurrent_runs = 5\n# caf\xe9\n")
    ended = serve(workdir, "--config", str(config), "--data-dir", str(workdir / "data"))
    assert_one_line(ended, str(config), ":2:", "not UTF-8")


def test_a_dotenv_file_that_is_not_utf8_is_one_line(workdir: Path) -> None:
    fabro_dir = workdir / "home" / ".fabro"
    fabro_dir.mkdir(parents=True)
    (fabro_dir / ".env").write_bytes(b"OPENAI_API_KEY=\xff\xfe\n")
    config = workdir / "server.toml"
    config.write_text("", encoding="utf-8")
    ended = serve(workdir, "--config", str(config), "--data-dir", str(workdir / "data"))
    assert_one_line(ended, ".env:1:", "not UTF-8")


# ---- a database or data folder that cannot be written ---------------------------------------


@dataclass(frozen=True)
class Setup:
    """A configured server's files, usable by the user the server runs as."""

    workdir: Path
    config: Path
    data: Path
    as_user: list[str]

    def serve(self) -> Ended:
        return serve(
            self.workdir,
            "--config",
            str(self.config),
            "--data-dir",
            str(self.data),
            as_user=self.as_user,
        )


@pytest.fixture
def other_user() -> Iterator[Path]:
    """A folder the server's user owns; the server runs as `nobody` when the test is root."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: root writes read-only files anyway")
    base = Path(tempfile.mkdtemp(prefix="fabro-startup-"))
    base.chmod(0o755)  # reachable by nobody (pytest's tmp_path is root's own)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def prepared(base: Path) -> Setup:
    """A migrated database and keys in ``base/data``, owned by the server's user."""
    (base / "home").mkdir()
    data = base / "data"
    token_for(data)  # the JWT key pair the configured server reads
    db = await Database.open(data / "fabro.db")
    await db.close()
    config = base / "server.toml"
    config.write_text(server_toml(), encoding="utf-8")
    return Setup(base, config, data, give_to_server_user(base))


def give_to_server_user(base: Path) -> list[str]:
    """Hand ``base`` to the user the server will run as; the command prefix that runs as it."""
    if os.geteuid() != 0:
        return []
    for path in [base, *base.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


async def test_a_read_only_database_file_stops_startup(other_user: Path) -> None:
    setup = await prepared(other_user)
    (setup.data / "fabro.db").chmod(0o400)
    ended = setup.serve()
    assert_one_line(ended, str(setup.data / "fabro.db"), "not writable", "readonly")


async def test_a_read_only_data_folder_stops_startup(other_user: Path) -> None:
    setup = await prepared(other_user)
    setup.data.chmod(0o500)
    try:
        ended = setup.serve()
    finally:
        setup.data.chmod(0o700)
    assert_one_line(ended, str(setup.data), "Permission denied")


async def test_a_writable_setup_still_starts(other_user: Path) -> None:
    setup = await prepared(other_user)
    ended = setup.serve()
    assert ended.returncode is None, ended.stderr  # it listened, then was stopped
    assert LISTENING in ended.stdout
