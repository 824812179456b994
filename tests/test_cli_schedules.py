"""`fabro schedules` as a real process against a real `fabro serve` with a registry workflow:
create, list, show, pause and unpause, trigger (a real run), history and rm, and the errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli_server import CliServer, cli_server

NIGHTLY = 'digraph Nightly { graph [goal="tidy"]; start [shape=Mdiamond]; exit [shape=Msquare]; start -> exit }'  # noqa: E501


class Schedules(CliServer):
    def ok(self, *args: str) -> str:
        done = self.fabro(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Schedules]:
    workdir = tmp_path_factory.mktemp("schedules-cli")
    registry = workdir / "workflows" / "nightly"
    registry.mkdir(parents=True)
    (registry / "workflow.dot").write_text(NIGHTLY, encoding="utf-8")
    env = {"FABRO_WORKFLOWS_DIR": str(workdir / "workflows")}
    with cli_server(workdir, "schedules", env) as served:
        yield Schedules(served.server, served.token, served.group)


def test_a_schedule_from_creation_to_removal(served: Schedules) -> None:
    made = served.fabro(
        "create", "nightly", "30 2 * * *", "--time-zone", "Europe/Paris", "--var", "env=prod",
        "--label", "team=ops", "--title", "Nightly tidy", "--missed", "run_once",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    schedule_id = made.stdout.strip()
    assert made.stderr.startswith("next fire: 20")

    header, row = served.ok("list", "nightly").splitlines()
    assert header.split() == ["ID", "STATE", "NEXT", "FIRE", "TIME", "ZONE", "CRON"]
    assert row.split()[:2] == [schedule_id, "active"]
    assert row.split()[3:] == ["Europe/Paris", "30", "2", "*", "*", "*"]
    shown = served.json("show", "nightly", schedule_id)
    assert shown["vars"] == {"env": "prod"} and shown["labels"] == {"team": "ops"}
    assert shown["title"] == "Nightly tidy" and shown["missed"] == "run_once"
    assert [s["id"] for s in served.json("list", "nightly", "--json")] == [schedule_id]

    paused = served.ok("pause", "nightly", schedule_id)
    assert paused.strip() == f"{schedule_id}: paused, next fire -"
    unpaused = served.ok("unpause", "nightly", schedule_id)
    assert unpaused.startswith(f"{schedule_id}: active, next fire 20")

    run_id = served.ok("trigger", "nightly", schedule_id).strip()
    fires = served.json("history", "nightly", schedule_id, "--json")
    assert [(f["kind"], f["status"], f["run_id"]) for f in fires] == [
        ("trigger", "started", run_id)
    ]
    history = served.ok("history", "nightly", schedule_id).splitlines()
    assert history[0].split() == ["SCHEDULED", "KIND", "STATUS", "RUN"]
    assert history[1].split()[1:] == ["trigger", "started", run_id]
    with served.server.client(token=served.token) as http:
        run = http.get(f"/runs/{run_id}").json()
    assert run["labels"] == {"team": "ops"} and run["title"] == "Nightly tidy"

    assert served.ok("rm", "nightly", schedule_id).strip() == f"{schedule_id}: deleted"
    gone = served.fabro("show", "nightly", schedule_id)
    assert gone.returncode != 0 and "Schedule not found" in gone.stderr
    assert served.json("list", "nightly", "--json") == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "nightly", "every day"), "'cron'"),
        (("create", "nightly", "@daily", "--time-zone", "Atlantis/Capital"), "'time_zone'"),
        (("create", "nightly", "@daily", "--var", "no-equals"), "--var"),
        (("create", "nightly", "@daily", "--missed", "always"), "always"),
    ],
)
def test_a_wrong_schedule_is_a_usage_error_that_names_it(
    served: Schedules, args: tuple[str, ...], says: str
) -> None:
    done = served.fabro(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert says in done.stderr


def test_an_unknown_workflow_says_so(served: Schedules) -> None:
    done = served.fabro("list", "no-such-flow")
    assert done.returncode != 0 and "Workflow not found" in done.stderr
