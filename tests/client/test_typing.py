"""The SDK's methods are typed for the client they are called on: mypy --strict accepts a
user's module (tests/client/typed_usage.py) and refuses results used as the wrong type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def mypy(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"), *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_users_module_type_checks_and_a_misuse_does_not(tmp_path: Path) -> None:
    misuse = tmp_path / "misuse.py"
    misuse.write_text(
        "from fabro.client import AsyncFabroClient, FabroClient\n"
        "def sync(fabro: FabroClient) -> int:\n"
        "    return fabro.get_run('r')  # a RunStatusResponse, not an int\n"
        "async def not_awaited(fabro: AsyncFabroClient) -> str:\n"
        "    return fabro.get_run('r').status  # an awaitable has no status\n"
        "def not_iterable(fabro: AsyncFabroClient) -> None:\n"
        "    for _ in fabro.list_runs():  # an async iterator needs async for\n"
        "        pass\n",
        encoding="utf-8",
    )
    checked = mypy(tmp_path, HERE / "typed_usage.py", misuse)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert all(line.startswith(str(misuse)) for line in errors), checked.stdout
    assert sorted({int(line.split(":")[1]) for line in errors}) == [3, 5, 7], checked.stdout
    assert 'got "RunStatusResponse", expected "int"' in checked.stdout
