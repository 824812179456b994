"""Finding 3: one model reply holding a lone surrogate must not stall every later run.

The reply comes over the provider's real wire protocol, as a JSON ``\\ud800`` escape, which
``json.loads`` turns into a lone surrogate: text that cannot be encoded as UTF-8, so neither
written to a stage file nor stored in SQLite until it is made storable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from fabro.config import Settings
from fabro.engine.artifacts import ArtifactWriter
from fabro.engine.outcome import Outcome
from fabro.engine.stage import StageRun
from fabro.events.storable import storable
from fabro.services import Services
from fabro.storage import stages
from fabro.storage.db import Database
from fabro.workflow.model import Node
from tests.api.runs_helpers import start, wait_for
from tests.engine.harness import ByNode, Harness
from tests.llm import fake_providers as fp
from tests.llm.fake_providers import FakeProviders, live_app, provider_env

LONE = "\ud800"
PROMPT = """digraph Reply {
  graph [goal="Say hello", default_provider="anthropic"]
  start [shape=Mdiamond]
  ask [shape=tab, prompt="Say hello"]
  exit [shape=Msquare]
  start -> ask -> exit
}"""
COMMAND = """digraph Command {
  start [shape=Mdiamond]
  hello [shape=parallelogram, script="echo hello"]
  exit [shape=Msquare]
  start -> hello -> exit
}"""


@pytest.fixture
async def live(settings: Settings, fake: FakeProviders) -> AsyncIterator[Quart]:
    async with live_app(settings, provider_env(fake)) as app:
        yield app


def test_storable_replaces_lone_surrogates_only() -> None:
    assert storable("plain") == "plain"
    assert storable(f"a{LONE}b\udfffc") == "a\ufffdb\ufffdc"
    assert storable("h\u00e9llo \U0001f600") == "h\u00e9llo \U0001f600"
    storable(f"x{LONE}").encode("utf-8")  # no UnicodeEncodeError


async def test_a_reply_with_a_lone_surrogate_then_a_command_run(
    live: Quart, fake: FakeProviders, auth_headers: dict[str, str], settings: Settings
) -> None:
    fake.anthropic(fp.anthropic(f"Hello {LONE} there"))
    client = live.test_client()
    first = await start(client, auth_headers, PROMPT)
    done = await wait_for(client, auth_headers, first["id"], {"completed", "failed"}, 10)
    assert done["status"] == "completed", done

    # The reply was made storable where it entered: stored, streamed and written alike.
    services: Services = live.config["FABRO_SERVICES"]
    turns = await stages.list_turns(services.db, first["id"], "ask")
    assert turns[-1].content == "Hello \ufffd there"
    response = settings.data_dir / "runs" / first["id"] / "nodes" / "ask" / "response.md"
    assert response.read_text(encoding="utf-8") == "Hello \ufffd there"

    # The stage files' writer is alive: a command-only run completes.
    second = await start(client, auth_headers, COMMAND)
    done = await wait_for(client, auth_headers, second["id"], {"completed", "failed"}, 10)
    assert done["status"] == "completed", done


async def test_the_writer_survives_an_item_that_fails(tmp_path: Path) -> None:
    """A job that raises (any exception, not only OSError) is reported; the next one runs."""
    writer = ArtifactWriter()
    failures: list[str] = []
    good = tmp_path / "nodes" / "b" / "good.md"
    # Text that cannot be encoded, handed over without going through an entry boundary.
    writer.write(tmp_path / "nodes" / "a" / "bad.md", f"x{LONE}", failures.append)
    writer.write(tmp_path / "nodes" / "a" / "broken.md", _Exploding(), failures.append)  # type: ignore[arg-type]
    writer.write(good, "fine")
    await writer.flush()
    assert good.read_text() == "fine"
    assert (tmp_path / "nodes" / "a" / "bad.md").read_text() == "x\ufffd"
    assert failures == ["internal error: RuntimeError"]


WRITES = """digraph Writes {
  start [shape=Mdiamond]
  ask [shape=tab, prompt="Say hello"]
  later [shape=tab, prompt="Go on"]
  exit [shape=Msquare]
  start -> ask -> later -> exit
}"""


async def test_an_artifact_that_cannot_be_written_is_reported_on_its_run(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "local.db")
    try:
        harness = Harness(db=db, data_dir=tmp_path)
        record = await harness.create(WRITES)
        nodes = harness.lifecycle.run_dir(record.id) / "nodes"
        nodes.mkdir(parents=True)
        (nodes / "ask").write_text("a file where the stage's folder should be")

        async def later(node: Node, stage: StageRun) -> Outcome:
            await stage.deps.artifacts.flush()  # the earlier stage's files are written (or not)
            return Outcome.success()

        result = await harness.execute(record, handlers=ByNode(later=later).handlers)
        assert result.status == "completed", result.error  # the run and the writer go on
        logs = (await harness.checkpoint(record.id))["logs"]
        assert logs == [
            "artifact nodes/ask/prompt.md not written: Not a directory",
            "artifact nodes/ask/response.md not written: Not a directory",
        ]
    finally:
        await db.close()


class _Exploding(str):
    def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        raise RuntimeError("boom")
