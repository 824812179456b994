"""JSON, YAML and TOML bodies on the real routes: the same results and the same errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import tomli_w
import yaml
from quart.typing import TestClientProtocol as Client

from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import GATED, wait_for, wait_for_question

Encode = Callable[[dict[str, Any]], bytes]
FORMATS: dict[str, tuple[str, Encode]] = {
    "json": ("application/json", lambda body: json.dumps(body).encode()),
    "yaml": ("application/yaml", lambda body: yaml.safe_dump(body, sort_keys=False).encode()),
    "yaml-alias": ("text/x-yaml", lambda body: yaml.safe_dump(body).encode()),
    "toml": ("application/toml", lambda body: tomli_w.dumps(body).encode()),
}


async def post(
    client: Client, headers: dict[str, str], path: str, fmt: str, body: dict[str, Any] | bytes
) -> Any:
    media, encode = FORMATS[fmt]
    data = body if isinstance(body, bytes) else encode(body)
    return await client.post(path, data=data, headers={**headers, "Content-Type": media})


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_a_run_driven_in_each_format(
    client: Client, auth_headers: dict[str, str], fmt: str
) -> None:
    """Start a run, steer it, answer its gate and open a chat session, in one body format."""
    start = {"dot_source": GATED, "title": f"In {fmt}", "labels": {"team": "web"}}
    response = await post(client, auth_headers, "/runs", fmt, start)
    assert response.status_code == 201, await response.get_data(as_text=True)
    assert response.mimetype == "application/json"  # answers stay JSON
    run = await response.get_json()
    assert (run["title"], run["labels"]) == (f"In {fmt}", {"team": "web"})
    question = await wait_for_question(client, auth_headers, run["id"])

    steer = {"guidance": "Keep it short", "location": {"file": "a.py", "line": 3}}
    response = await post(client, auth_headers, f"/runs/{run['id']}/steer", fmt, steer)
    assert response.status_code == 202, await response.get_data(as_text=True)

    answer_path = f"/runs/{run['id']}/questions/{question['id']}/answer"
    response = await post(client, auth_headers, answer_path, fmt, {"selected_option_key": "A"})
    assert response.status_code == 204, await response.get_data(as_text=True)
    assert (await wait_for(client, auth_headers, run["id"], {"completed"}))["status"] == (
        "completed"
    )

    response = await post(client, auth_headers, "/sessions", fmt, {"content": "Hello"})
    assert response.status_code == 201, await response.get_data(as_text=True)


# (path, a body with a field of the wrong type, the detail JSON answers). Paths with {run} or
# {question} are filled in with a waiting run's.
FIELD_ERRORS = [
    ("/runs", {"dot_source": 5}, "Field 'dot_source' must be a string."),
    (
        "/runs",
        {"dot_source": GATED, "labels": {"team": 1}},
        "Field 'labels.team' must be a string.",
    ),
    ("/runs", {"dot_source": GATED, "vars": []}, "Field 'vars' must be an object."),
    (
        "/runs/{run}/steer",
        {"guidance": "x", "location": {"file": "a.py", "line": "three"}},
        "Field 'location.line' must be an integer.",
    ),
    ("/runs/{run}/steer", {"location": {"file": "a.py"}}, "Missing required field 'guidance'."),
    (
        "/runs/{run}/questions/{question}/answer",
        {"selected_option_keys": "A"},
        "Field 'selected_option_keys' must be an array.",
    ),
    ("/sessions", {"content": ["Hello"]}, "Field 'content' must be a string."),
    ("/sessions", {"content": "Hello", "model": True}, "Field 'model' must be a string."),
]

# YAML timestamps and TOML datetimes where a string is expected: JSON's error for a number.
DATES = [
    ("/runs", "yaml", b"dot_source: x\ntitle: 2024-01-01\n", "Field 'title' must be a string."),
    ("/runs", "toml", b'dot_source = "x"\ntitle = 2024-01-01\n', "Field 'title' must be a string."),
    (
        "/runs",
        "yaml",
        b"dot_source: x\nvars:\n  repo: api\n  when: 2024-01-01 10:00:00Z\n",
        "Field 'vars.when' must be a string.",
    ),
    (
        "/runs/{run}/steer",
        "toml",
        b'guidance = "x"\n[location]\nfile = 07:32:00\n',
        "Field 'location.file' must be a string.",
    ),
    (
        "/sessions",
        "yaml",
        b"content: 2024-01-01T10:00:00+02:00\n",
        "Field 'content' must be a string.",
    ),
]


async def test_field_errors_are_the_same_in_each_format(
    client: Client, auth_headers: dict[str, str]
) -> None:
    run = await post(client, auth_headers, "/runs", "json", {"dot_source": GATED})
    run_id = (await run.get_json())["id"]
    question = await wait_for_question(client, auth_headers, run_id)

    def fill(path: str) -> str:
        return path.format(run=run_id, question=question["id"])

    for path, body, detail in FIELD_ERRORS:
        for fmt in FORMATS:
            response = await post(client, auth_headers, fill(path), fmt, body)
            assert response.status_code == 400, (fmt, path, body)
            assert_envelope(await response.get_json(), 400, detail)
    for path, fmt, raw, detail in DATES:
        response = await post(client, auth_headers, fill(path), fmt, raw)
        assert response.status_code == 400, (fmt, path, raw)
        assert_envelope(await response.get_json(), 400, detail)
    # Nothing above reached the run: its question still waits.
    assert (await wait_for_question(client, auth_headers, run_id))["id"] == question["id"]


REFUSED = [
    (
        "yaml",
        b"dot_source: !!python/object/apply:os.system ['touch /tmp/fabro-pwned']\n",
        "YAML body has the tag '!!python/object/apply:os.system' at line 1; tags are not accepted.",
    ),
    (
        "yaml",
        b"title: t\ndot_source: !!str digraph {}\n",
        "YAML body has the tag '!!str' at line 2; tags are not accepted.",
    ),
    (
        "yaml",
        b"dot_source: !custom x\n",
        "YAML body has the tag '!custom' at line 1; tags are not accepted.",
    ),
    ("yaml", b"- dot_source: x\n", "Request body must be a YAML mapping."),
    (
        "yaml",
        b"dot_source: [x\n",
        "Malformed YAML body at line 2, column 1: while parsing a flow"
        " sequence, did not find expected ',' or ']'.",
    ),
    (
        "toml",
        b'dot_source = "x\n',
        "Malformed TOML body: Illegal character '\\n' (at line 1, column 16).",
    ),
    ("toml", b"dot_source = nan\n", "Field 'dot_source' has nan, which is not a JSON number."),
    ("yaml", b"1: x\n", "Key 1 of the YAML body must be a string (quote it)."),
]


@pytest.mark.parametrize(("fmt", "raw", "detail"), REFUSED)
async def test_unsafe_or_malformed_documents_are_refused(
    client: Client, auth_headers: dict[str, str], fmt: str, raw: bytes, detail: str
) -> None:
    response = await post(client, auth_headers, "/runs", fmt, raw)
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400, detail)


async def test_an_alias_bomb_is_refused_at_once(
    client: Client, auth_headers: dict[str, str]
) -> None:
    # Nine levels of nine aliases each: 9**9 (387 million) strings if it were expanded.
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    bomb = ("\n".join(lines) + "\ndot_source: x\n").encode()
    started = time.perf_counter()
    response = await post(client, auth_headers, "/runs", "yaml", bomb)
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 400
    assert_envelope(
        await response.get_json(),
        400,
        "YAML body has an alias (*a0) at line 2; aliases are not accepted.",
    )


async def test_a_large_yaml_body_is_parsed_off_the_event_loop(
    client: Client, auth_headers: dict[str, str]
) -> None:
    """While a body of 100,000 values is parsed, the event loop keeps turning."""
    many = "title: t\ndot_source: x\nvars:\n" + "".join(f"  k{i}: v\n" for i in range(49_000))
    parsing = asyncio.ensure_future(post(client, auth_headers, "/runs", "yaml", many.encode()))
    loop = asyncio.get_running_loop()
    started = last = loop.time()
    longest_gap = 0.0
    while not parsing.done():
        await asyncio.sleep(0.005)
        now = loop.time()
        longest_gap, last = max(longest_gap, now - last), now
    response = parsing.result()
    assert response.status_code == 400  # x is no workflow: parsed and validated all the same
    assert last - started > 0.2 and longest_gap < (last - started) / 2, (
        longest_gap,
        last - started,
    )
    too_many = "dot_source: x\nvars:\n" + "".join(f"  k{i}: v\n" for i in range(51_000))
    response = await post(client, auth_headers, "/runs", "yaml", too_many.encode())
    assert_envelope(await response.get_json(), 400, "YAML body has more than 100000 values.")


@pytest.mark.parametrize(
    "media",
    ["application/x-yaml", "text/yaml", "application/yml", "application/yaml; charset=utf-8"],
)
async def test_yaml_aliases_are_accepted(
    client: Client, auth_headers: dict[str, str], media: str
) -> None:
    response = await client.post(
        "/sessions", data=b"content: Hi\n", headers={**auth_headers, "Content-Type": media}
    )
    assert response.status_code == 201


async def test_the_openapi_document_lists_every_body_media_type(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    bodies = [
        operation["requestBody"]["content"]
        for path in document["paths"].values()
        for operation in path.values()
        if "requestBody" in operation
    ]
    assert len(bodies) > 5
    for content in bodies:
        assert set(content) == {
            "application/json",
            "application/yaml",
            "application/x-yaml",
            "application/yml",
            "text/yaml",
            "text/x-yaml",
            "application/toml",
        }
        assert len({str(media["schema"]) for media in content.values()}) == 1
