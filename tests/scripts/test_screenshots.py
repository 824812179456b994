"""scripts/screenshots refreshes the UI's screenshots: it runs the browser tests that take them
and copies the PNGs (here into a temporary folder instead of docs/images/ui/)."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from tests.ui.routes import PAGES

REPO_ROOT = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.slow  # a browser and a server: about 20 s
def test_the_script_copies_a_screenshot_of_every_page(tmp_path: Path) -> None:
    env = os.environ | {"FABRO_SCREENSHOTS_TO": str(tmp_path)}
    done = subprocess.run(
        ["bash", "scripts/screenshots", "-k", "light-desktop or light-phone"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"screenshots: 12 PNG files in {tmp_path}/" in done.stderr
    names = sorted(path.stem for path in tmp_path.glob("*.png"))
    assert names == sorted([*PAGES, "run-graph", "board-phone"])
    for name in PAGES:
        assert png_size(tmp_path / f"{name}.png") == (1280, 800)
    assert png_size(tmp_path / "board-phone.png") == (390, 844)
