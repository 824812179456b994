"""The README's first-workflow walkthrough, run as written against a zero-config server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.e2e.banner import banner_token
from tests.e2e.conftest import StartServer
from tests.e2e.serverproc import REPO_ROOT

README = REPO_ROOT / "README.md"


def readme_request_body() -> dict[str, object]:
    """The body the README writes to /tmp/hello.json (its heredoc, verbatim)."""
    found = re.search(r"<<'JSON'\n(.*?)\nJSON\n", README.read_text(), re.S)
    assert found, "README no longer has the hello.json heredoc"
    body: dict[str, object] = json.loads(found.group(1))
    return body


def test_the_readme_walkthrough_works_as_written(fabro_server: StartServer, tmp_path: Path) -> None:
    text = README.read_text()
    assert text.startswith("# fabro\n\n```sh\nscripts/serve ")
    assert '"selected_option_key": "Y"' in text and "/questions/q-1/answer" in text

    server = fabro_server(workdir=tmp_path / "readme")
    token = banner_token(server)
    with server.client(token=token) as http:
        created = http.post("/runs", json=readme_request_body())
        assert created.status_code == 201, created.text
        run = created.json()["id"]
        deadline = time.monotonic() + 20
        while not (questions := http.get(f"/runs/{run}/questions").json()["data"]):
            assert time.monotonic() < deadline, "the run never reached its gate"
            time.sleep(0.05)
        assert [(q["id"], q["text"]) for q in questions] == [("q-1", "Ship it?")]
        answered = http.post(f"/runs/{run}/questions/q-1/answer", json={"selected_option_key": "Y"})
        assert answered.status_code < 300, answered.text
        while (status := http.get(f"/runs/{run}").json()["status"]) != "completed":
            assert status in ("queued", "starting", "running"), status
            assert time.monotonic() < deadline, "the run did not complete"
            time.sleep(0.05)
        with http.stream("GET", f"/runs/{run}/events") as stream:
            frames = [line for line in stream.iter_lines() if line.startswith("data: ")]
        assert "WorkflowRunCompleted" in frames[-1]
