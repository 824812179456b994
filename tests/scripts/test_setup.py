"""scripts/_setup.sh installs Graphviz with the platform's package manager, or warns and goes on.

Each test sources the script with FABRO_SETUP_DEFINE_ONLY=1 (functions only, no venv) and
calls ``ensure_graphviz`` with a PATH that holds nothing but stub programs recording their
arguments: the package managers, sudo, and `env` (the real one, which apt-get is run through).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP = REPO_ROOT / "scripts" / "_setup.sh"
BASH = shutil.which("bash") or "/bin/bash"
CP = shutil.which("cp") or "/bin/cp"
WARNING_START = "setup: warning: Graphviz (dot) is missing and setup "
WARNING_END = (
    "; fabro works, but graph rendering (fabro graph, GET /runs/{id}/graph) needs it: "
    "https://graphviz.org/download/"
)


@dataclass
class Setup:
    status: int
    stdout: str
    stderr: list[str]
    calls: list[str]


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    env = shutil.which("env")
    assert env is not None
    (folder / "env").symlink_to(env)
    return folder


def stub(
    folder: Path,
    name: str,
    *,
    exit_status: int = 0,
    installs_dot: bool = False,
    installs: Path | None = None,
) -> None:
    """A program that records `name ARGS [DEBIAN_FRONTEND=...]`; sudo then runs its arguments.

    ``installs_dot`` / ``installs``: its `install` puts `dot` on the PATH / a copy of itself at
    that path, as the real package would.
    """
    lines = [
        f"#!{BASH}",
        f'printf "%s\\n" "{name} $* ${{DEBIAN_FRONTEND:+DEBIAN_FRONTEND=$DEBIAN_FRONTEND}}" '
        '>> "$STUB_LOG"',
    ]
    if name == "sudo":
        lines.append('exec "$@"')
    if installs_dot:
        installs = folder / "dot"
    if installs is not None:
        lines.append(f'[ "$1" != install ] || {CP} "$0" "{installs}"')
    lines.append(f"exit {exit_status}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o755)


def ensure_graphviz(
    folder: Path,
    *,
    root: bool = True,
    function: str = "ensure_graphviz",
    env: dict[str, str] | None = None,
) -> Setup:
    log = folder.parent / "calls.log"
    log.touch()
    script = (
        'FABRO_SETUP_DEFINE_ONLY=1 source "$0"\n'
        + ("" if root else "is_root() { return 1; }\n")
        + f"{function}\n"
        + "echo went-on\n"
    )
    done = subprocess.run(
        [BASH, "-c", script, str(SETUP)],
        env={"PATH": str(folder), "STUB_LOG": str(log), "HOME": str(folder.parent)} | (env or {}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = [line.rstrip() for line in log.read_text(encoding="utf-8").splitlines()]
    return Setup(done.returncode, done.stdout, done.stderr.splitlines(), calls)


def test_nothing_happens_when_dot_is_there(stubs: Path) -> None:
    stub(stubs, "dot")
    stub(stubs, "apt-get")
    result = ensure_graphviz(stubs)
    assert (result.status, result.stdout, result.stderr, result.calls) == (0, "went-on\n", [], [])


def test_apt_get_as_root(stubs: Path) -> None:
    stub(stubs, "apt-get", installs_dot=True)
    stub(stubs, "dnf")
    stub(stubs, "sudo")
    result = ensure_graphviz(stubs)
    assert result.calls == [
        "apt-get update -qq",
        "apt-get install -y -qq graphviz DEBIAN_FRONTEND=noninteractive",
    ]
    assert result.stderr == ["setup: installing Graphviz (dot) with apt-get"]
    assert result.stdout == "went-on\n"


def test_apt_get_through_sudo_when_not_root(stubs: Path) -> None:
    stub(stubs, "apt-get", installs_dot=True)
    stub(stubs, "sudo")
    result = ensure_graphviz(stubs, root=False)
    assert result.calls == [
        "sudo apt-get update -qq",
        "apt-get update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz",
        "apt-get install -y -qq graphviz DEBIAN_FRONTEND=noninteractive",
    ]
    assert result.stdout == "went-on\n"


def test_no_sudo_and_not_root_tries_as_is_then_warns(stubs: Path) -> None:
    stub(stubs, "apt-get", exit_status=100)  # what apt-get does without permission
    result = ensure_graphviz(stubs, root=False)
    assert result.calls == ["apt-get update -qq"]
    assert result.stderr == [
        "setup: installing Graphviz (dot) with apt-get",
        WARNING_START + "could not install it" + WARNING_END,
    ]
    assert (result.status, result.stdout) == (0, "went-on\n")


@pytest.mark.parametrize("root", [True, False], ids=["root", "user"])
def test_dnf_when_there_is_no_apt_get(stubs: Path, root: bool) -> None:
    stub(stubs, "dnf", installs_dot=True)
    stub(stubs, "brew")
    stub(stubs, "sudo")
    result = ensure_graphviz(stubs, root=root)
    install = "dnf install -y -q graphviz"
    assert result.calls == ([install] if root else [f"sudo {install}", install])
    assert result.stderr == ["setup: installing Graphviz (dot) with dnf"]


@pytest.mark.parametrize("root", [True, False], ids=["root", "user"])
def test_brew_never_through_sudo(stubs: Path, root: bool) -> None:
    stub(stubs, "brew", installs_dot=True)
    stub(stubs, "sudo")
    result = ensure_graphviz(stubs, root=root)
    assert result.calls == ["brew install --quiet graphviz"]
    assert result.stderr == ["setup: installing Graphviz (dot) with brew"]
    assert result.stdout == "went-on\n"


def test_no_package_manager_warns_in_one_line_and_goes_on(stubs: Path) -> None:
    stub(stubs, "sudo")
    result = ensure_graphviz(stubs)
    assert result.calls == []
    assert result.stderr == [
        WARNING_START + "found no apt-get, dnf or brew to install it" + WARNING_END
    ]
    assert (result.status, result.stdout) == (0, "went-on\n")


def test_an_install_that_leaves_no_dot_warns_and_goes_on(stubs: Path) -> None:
    stub(stubs, "dnf")  # succeeds, but no dot appears
    result = ensure_graphviz(stubs)
    assert result.calls == ["dnf install -y -q graphviz"]
    assert result.stderr[-1] == WARNING_START + "could not install it" + WARNING_END
    assert result.stdout == "went-on\n"


def test_define_only_runs_nothing(tmp_path: Path) -> None:
    # Sourcing with FABRO_SETUP_DEFINE_ONLY=1 defines the functions and touches no venv.
    done = subprocess.run(
        [BASH, "-c", 'FABRO_SETUP_DEFINE_ONLY=1 source "$0"; pwd; type -t ensure_venv', SETUP],
        env={"PATH": str(tmp_path), "PYTHON": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [str(REPO_ROOT), "function"]


def ensure_chromium(folder: Path, chromium: Path, *, root: bool = True) -> Setup:
    env = {"FABRO_CHROMIUM": str(chromium)}
    return ensure_graphviz(folder, root=root, function="ensure_chromium", env=env)


def chromium_warning(chromium: Path, why: str) -> str:
    return (
        f"setup: warning: Chromium is missing at {chromium} and setup {why}; the browser tests "
        "(tests/ui/browser) will fail until it is there (set FABRO_CHROMIUM to use another)"
    )


def test_chromium_there_installs_nothing(stubs: Path, tmp_path: Path) -> None:
    stub(stubs, "apt-get")
    stub(tmp_path, "chromium")
    result = ensure_chromium(stubs, tmp_path / "chromium")
    assert (result.status, result.stdout, result.stderr, result.calls) == (0, "went-on\n", [], [])


@pytest.mark.parametrize("root", [True, False], ids=["root", "user"])
def test_chromium_from_apt_get(stubs: Path, tmp_path: Path, root: bool) -> None:
    chromium = tmp_path / "chromium"
    stub(stubs, "apt-get", installs=chromium)
    stub(stubs, "sudo")
    result = ensure_chromium(stubs, chromium, root=root)
    install = "apt-get install -y -qq chromium DEBIAN_FRONTEND=noninteractive"
    if root:
        assert result.calls == ["apt-get update -qq", install]
    else:
        assert result.calls == [
            "sudo apt-get update -qq",
            "apt-get update -qq",
            "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            install,
        ]
    assert result.stderr == ["setup: installing Chromium (for the browser tests) with apt-get"]
    assert (result.status, result.stdout) == (0, "went-on\n")
    assert chromium.exists()


def test_chromium_apt_get_failing_warns_in_one_line(stubs: Path, tmp_path: Path) -> None:
    stub(stubs, "apt-get", exit_status=100)
    result = ensure_chromium(stubs, tmp_path / "chromium")
    assert result.stderr == [
        "setup: installing Chromium (for the browser tests) with apt-get",
        chromium_warning(tmp_path / "chromium", "could not install it"),
    ]
    assert (result.status, result.stdout) == (0, "went-on\n")


def test_chromium_without_apt_get_warns_in_one_line(stubs: Path, tmp_path: Path) -> None:
    stub(stubs, "dnf")
    stub(stubs, "brew")
    result = ensure_chromium(stubs, tmp_path / "chromium")
    assert result.calls == []
    assert result.stderr == [
        chromium_warning(tmp_path / "chromium", "found no apt-get to install it")
    ]
    assert (result.status, result.stdout) == (0, "went-on\n")
