"""Stage artifacts: written in order off the event loop, flushed, and counted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fabro.engine.artifacts import ArtifactWriter, count_files


async def test_written_files_are_on_disk_after_flush_folders_created_as_needed(
    tmp_path: Path,
) -> None:
    writer = ArtifactWriter()
    for stage in ("a", "b", "b-visit_2"):
        writer.write(tmp_path / "nodes" / stage / "prompt.md", f"prompt of {stage}")
        writer.write(tmp_path / "nodes" / stage / "response.md", "é")
    writer.write(tmp_path / "nodes" / "a" / "prompt.md", "rewritten")  # the last write wins
    await writer.flush()
    assert (tmp_path / "nodes" / "a" / "prompt.md").read_text() == "rewritten"
    assert (tmp_path / "nodes" / "b-visit_2" / "response.md").read_text(encoding="utf-8") == "é"
    assert count_files(tmp_path / "nodes") == 6


async def test_a_file_that_cannot_be_written_is_logged_and_the_rest_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "nodes").write_text("a file where a folder should be")
    writer = ArtifactWriter()
    writer.write(tmp_path / "nodes" / "a" / "prompt.md", "lost")
    writer.write(tmp_path / "other" / "prompt.md", "kept")
    await writer.flush()
    assert (tmp_path / "other" / "prompt.md").read_text() == "kept"
    assert "cannot write artifact" in caplog.text and "prompt.md" in caplog.text


def test_count_files_counts_files_at_every_depth_and_does_not_follow_links(
    tmp_path: Path,
) -> None:
    assert count_files(tmp_path / "missing") == 0
    (tmp_path / "nodes" / "a" / "deep").mkdir(parents=True)
    (tmp_path / "nodes" / "a" / "prompt.md").write_text("x")
    (tmp_path / "nodes" / "a" / "deep" / "stdout.log").write_text("x")
    (tmp_path / "nodes" / "b").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big.log").write_text("x")
    os.symlink(tmp_path / "elsewhere", tmp_path / "nodes" / "b" / "linked")
    os.symlink(tmp_path / "elsewhere" / "big.log", tmp_path / "nodes" / "b" / "file-link")
    assert count_files(tmp_path / "nodes") == 3  # prompt.md, stdout.log and the file link
