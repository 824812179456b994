"""Stage artifacts over HTTP (fabro): list a stage's folder, serve a file whole, by range, tail."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from fabro.clock import parse_ts
from fabro.services import Services
from fabro.storage.records import RunRecord
from tests.api.envelope import assert_envelope
from tests.api.internals_helpers import finished

# `build` prints 30 numbered lines (201 bytes) to stdout, one to stderr, and fails.
SCRIPT = "for i in $(seq 1 30); do echo line$i; done; echo broken >&2; exit 2"
LOGS = f"""digraph Logs {{
  start [shape=Mdiamond]
  build [shape=parallelogram, script="{SCRIPT}"]
  exit [shape=Msquare]
  start -> build -> exit
}}"""


@pytest.fixture
async def run(services: Services) -> RunRecord:
    return await finished(services, LOGS)


def folder(services: Services, run: RunRecord, stage: str) -> Path:
    return services.runs.lifecycle.run_dir(run.id) / "nodes" / stage


async def get(
    client: Client, headers: dict[str, str], path: str, **extra: str
) -> tuple[int, Any, Any]:
    response = await client.get(path, headers={**headers, **extra})
    return response.status_code, response.headers, await response.get_data(as_text=False)


async def test_the_list_names_every_file_of_the_stage_folder(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    values = folder(services, run, "build") / "values"
    values.mkdir()
    (values / "answer.txt").write_text("42", encoding="utf-8")
    response = await client.get(f"/runs/{run.id}/stages/build/artifacts", headers=auth_headers)
    assert response.status_code == 200
    page = await response.get_json()
    names = [item["name"] for item in page["data"]]
    assert names == sorted(names)
    assert {"stdout.log", "stderr.log", "values/answer.txt"} <= set(names)
    assert page["meta"] == {"has_more": False}
    stdout = next(item for item in page["data"] if item["name"] == "stdout.log")
    assert stdout["size"] == len("".join(f"line{i}\n" for i in range(1, 31)))
    assert parse_ts(stdout["updated_at"]).tzinfo is not None
    assert stdout["updated_at"].endswith("Z")


async def test_the_list_is_paginated(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    path = f"/runs/{run.id}/stages/build/artifacts"
    everything = (await (await client.get(path, headers=auth_headers)).get_json())["data"]
    first = await (await client.get(path + "?page[limit]=2", headers=auth_headers)).get_json()
    rest = await (
        await client.get(path + "?page[limit]=100&page[offset]=2", headers=auth_headers)
    ).get_json()
    assert first["meta"] == {"has_more": True}
    assert first["data"] + rest["data"] == everything


async def test_a_stage_without_files_lists_nothing_and_unknown_stages_are_404(
    client: Client, auth_headers: dict[str, str], run: RunRecord
) -> None:
    response = await client.get(f"/runs/{run.id}/stages/start/artifacts", headers=auth_headers)
    assert (response.status_code, await response.get_json()) == (
        200,
        {"data": [], "meta": {"has_more": False}},
    )
    for path, detail in (
        (f"/runs/{run.id}/stages/nope/artifacts", "Stage not found."),
        (f"/runs/{run.id}/stages/nope/artifacts/stdout.log", "Stage not found."),
        ("/runs/NOPE/stages/build/artifacts", "Run not found."),
        (f"/runs/{run.id}/stages/build/artifacts/nope.log", "Artifact not found."),
        (f"/runs/{run.id}/stages/build/artifacts/values", "Artifact not found."),
    ):
        response = await client.get(path, headers=auth_headers)
        assert response.status_code == 404, path
        assert_envelope(await response.get_json(), 404, detail)


async def test_a_text_file_is_served_whole_as_utf8_text(
    client: Client, auth_headers: dict[str, str], run: RunRecord
) -> None:
    status, headers, body = await get(
        client, auth_headers, f"/runs/{run.id}/stages/build/artifacts/stderr.log"
    )
    assert (status, body) == (200, b"broken\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == "7"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Fabro-Artifact-Size"] == "7"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_a_binary_file_is_an_octet_stream_and_names_may_hold_slashes(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    nested = folder(services, run, "build") / "values" / "deep"
    nested.mkdir(parents=True)
    (nested / "blob.bin").write_bytes(b"\x00\xff\x01")
    status, headers, body = await get(
        client, auth_headers, f"/runs/{run.id}/stages/build/artifacts/values/deep/blob.bin"
    )
    assert (status, body) == (200, b"\x00\xff\x01")
    assert headers["Content-Type"] == "application/octet-stream"


async def test_a_large_file_is_streamed_whole(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    data = os.urandom(64 * 1024 * 5 + 17).hex().encode()  # ten 64 KiB chunks and a bit
    (folder(services, run, "build") / "big.log").write_bytes(data)
    status, headers, body = await get(
        client, auth_headers, f"/runs/{run.id}/stages/build/artifacts/big.log"
    )
    assert (status, body, headers["Content-Length"]) == (200, data, str(len(data)))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-5", 0, 5),
        ("bytes=5-", 5, 200),
        ("bytes=-6", 195, 200),
        ("bytes=180-999", 180, 200),
    ],
)
async def test_a_byte_range_is_206_with_content_range(
    client: Client,
    auth_headers: dict[str, str],
    run: RunRecord,
    header: str,
    first: int,
    last: int,
) -> None:
    whole = "".join(f"line{i}\n" for i in range(1, 31)).encode()
    assert len(whole) == 201
    status, headers, body = await get(
        client, auth_headers, f"/runs/{run.id}/stages/build/artifacts/stdout.log", Range=header
    )
    assert (status, body) == (206, whole[first : last + 1])
    assert headers["Content-Range"] == f"bytes {first}-{last}/201"
    assert headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=201-", "bytes=500-600", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416_in_the_envelope(
    client: Client, auth_headers: dict[str, str], run: RunRecord, header: str
) -> None:
    response = await client.get(
        f"/runs/{run.id}/stages/build/artifacts/stdout.log",
        headers={**auth_headers, "Range": header},
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */201"
    assert_envelope(
        await response.get_json(), 416, "Range not satisfiable: the artifact has 201 bytes."
    )


@pytest.mark.parametrize(
    "header", ["bytes=5-1", "bytes=0-1,4-5", "lines=1-2", "bytes=", "bytes=a-b", "bytes=١-٢"]
)
async def test_a_malformed_range_is_400_naming_the_forms(
    client: Client, auth_headers: dict[str, str], run: RunRecord, header: str
) -> None:
    response = await client.get(
        f"/runs/{run.id}/stages/build/artifacts/stdout.log",
        headers={**auth_headers, "Range": header},
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert_envelope(body, 400)
    assert "bytes=FIRST-LAST" in body["errors"][0]["detail"]


async def test_tail_gives_the_last_lines(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    path = f"/runs/{run.id}/stages/build/artifacts/stdout.log"
    status, headers, body = await get(client, auth_headers, path + "?tail=3")
    assert (status, body) == (200, b"line28\nline29\nline30\n")
    assert headers["Fabro-Artifact-Size"] == "201"
    status, _, body = await get(client, auth_headers, path + "?tail=10000")
    assert body == "".join(f"line{i}\n" for i in range(1, 31)).encode()
    (folder(services, run, "build") / "open.log").write_bytes(b"a\nb\nc")  # no final newline
    status, _, body = await get(
        client, auth_headers, f"/runs/{run.id}/stages/build/artifacts/open.log?tail=2"
    )
    assert body == b"b\nc"


@pytest.mark.parametrize("query", ["tail=0", "tail=10001", "tail=-1", "tail=x"])
async def test_a_bad_tail_is_400_naming_the_parameter(
    client: Client, auth_headers: dict[str, str], run: RunRecord, query: str
) -> None:
    response = await client.get(
        f"/runs/{run.id}/stages/build/artifacts/stdout.log?{query}", headers=auth_headers
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert_envelope(body, 400)
    assert "'tail'" in body["errors"][0]["detail"]


async def test_tail_and_range_together_are_400(
    client: Client, auth_headers: dict[str, str], run: RunRecord
) -> None:
    response = await client.get(
        f"/runs/{run.id}/stages/build/artifacts/stdout.log?tail=2",
        headers={**auth_headers, "Range": "bytes=0-1"},
    )
    assert response.status_code == 400
    assert_envelope(
        await response.get_json(),
        400,
        "Use either the 'Range' header or the 'tail' query parameter.",
    )


async def test_names_never_leave_the_stage_folder(
    client: Client, auth_headers: dict[str, str], services: Services, run: RunRecord
) -> None:
    stage = folder(services, run, "build")
    secret = stage.parent.parent / "secret.txt"  # in the run folder, beside nodes/
    secret.write_text("SECRET", encoding="utf-8")
    (stage / "out.link").symlink_to(secret)
    (stage / "dir.link").symlink_to(stage.parent.parent, target_is_directory=True)
    (stage / "inside.link").symlink_to(stage / "stderr.log")
    base = f"/runs/{run.id}/stages/build/artifacts/"
    for name in (
        "../../secret.txt",
        "..%2F..%2Fsecret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "values/../../../secret.txt",
        "./stderr.log",
        "out.link",
        "dir.link/secret.txt",
        "stderr.log%00",
        "%2Fetc%2Fpasswd",
    ):
        response = await client.get(base + name, headers=auth_headers)
        text = await response.get_data(as_text=True)
        assert response.status_code == 404, name
        assert "SECRET" not in text and "root:" not in text
    listed = await (await client.get(base[:-1], headers=auth_headers)).get_json()
    assert not any("link" in item["name"] for item in listed["data"])
    status, _, body = await get(client, auth_headers, base + "inside.link")
    assert (status, body) == (200, b"broken\n")  # a link that stays inside is the file it names


async def test_the_openapi_document_describes_the_contract(client: Client) -> None:
    paths = (await (await client.get("/openapi.json")).get_json())["paths"]
    listing = paths["/runs/{id}/stages/{stageId}/artifacts"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedStageArtifactList"
    }
    file = paths["/runs/{id}/stages/{stageId}/artifacts/{name}"]["get"]
    names = {param.get("name") for param in file["parameters"]}
    assert {"id", "stageId", "name", "tail", "Range"} <= names
    assert {"200", "206", "400", "404", "416"} <= set(file["responses"])
    assert set(file["responses"]["206"]["content"]) == {"text/plain", "application/octet-stream"}
    assert file["responses"]["206"]["headers"]["Content-Range"]["required"] is True
