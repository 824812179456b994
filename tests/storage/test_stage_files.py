"""Reading a stage's folder: byte ranges, tails from the end, names that stay inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabro.storage.stage_files import (
    CHUNK,
    Artifact,
    RangeError,
    Unsatisfiable,
    list_artifacts,
    parse_range,
)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=2-99", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        (" Bytes = 1-2 ", 10, (1, 2)),
        ("bytes=9-", 10, (9, 9)),
    ],
)
def test_a_range_is_clipped_to_the_file(header: str, size: int, expected: tuple[int, int]) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size", "error"),
    [
        ("bytes=10-", 10, Unsatisfiable),
        ("bytes=-0", 10, Unsatisfiable),
        ("bytes=-5", 0, Unsatisfiable),
        ("bytes=0-", 0, Unsatisfiable),
        ("bytes=3-2", 10, RangeError),
        ("bytes=-", 10, RangeError),
        ("bytes=0-1,3-4", 10, RangeError),
        ("items=0-1", 10, RangeError),
        ("bytes=1" + "0" * 19 + "-", 10, RangeError),
        ("bytes=+1-2", 10, RangeError),
    ],
)
def test_ranges_that_cannot_be_served(header: str, size: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_range(header, size)


def opened(path: Path, data: bytes) -> Artifact:
    path.write_bytes(data)
    artifact = Artifact.open(path.parent, path.name)
    assert artifact is not None
    return artifact


@pytest.mark.parametrize(
    ("data", "lines", "tail"),
    [
        (b"", 3, b""),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 9, b"a\nb\nc\n"),
        (b"\n\n\n", 1, b"\n"),
        (b"only", 1, b"only"),
    ],
)
def test_tail_like_tail_n(tmp_path: Path, data: bytes, lines: int, tail: bytes) -> None:
    artifact = opened(tmp_path / "f.log", data)
    try:
        start = artifact.tail_start(lines)
        assert artifact.read(start, artifact.size - start) == tail
    finally:
        artifact.close()


def test_a_tail_reads_back_over_chunks_but_never_past_its_budget(tmp_path: Path) -> None:
    line = b"x" * 99 + b"\n"
    artifact = opened(tmp_path / "big.log", line * (3 * CHUNK // 100))
    try:
        start = artifact.tail_start(1500)  # 150 kB back: several chunks
        assert artifact.size - start == 1500 * len(line)
        start = artifact.tail_start(10_000, max_bytes=1000)  # budget: starts at a line
        assert artifact.size - start == 900 and artifact.read(start - 1, 1) == b"\n"
    finally:
        artifact.close()
    no_lines = opened(tmp_path / "flat.bin", b"y" * 5000)
    try:
        assert no_lines.tail_start(3, max_bytes=1000) == 4000
    finally:
        no_lines.close()


def test_the_listing_skips_links_and_stops_at_its_limit(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    (tmp_path / "link").symlink_to(tmp_path / "b.txt")
    assert [item.name for item in list_artifacts(tmp_path)] == ["b.txt", "sub/a.txt"]
    assert len(list_artifacts(tmp_path, limit=1)) == 1
    assert list_artifacts(tmp_path / "missing") == []
