"""The role table walked against a real `fabro serve`: every route, every role.

One server for the module, with a [roles] table: alice is admin, bob operator, carol viewer,
and dave (allowed to sign in, listed nowhere) has no role (`default = "none"`). For each row of
ROUTES, every identity below the row's role gets 403 naming the role needed and the role it
has; the role itself gets anything but 403 (the dummy ids make most answers 404 or 400).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from fabro.api.openapi import openapi_document
from fabro.api.operations import Route
from fabro.api.routes import ROUTES
from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.governance.roles import NOT_OWNER, Role
from tests.e2e.serverproc import ServerProcess, start_server

USERS: dict[str, Role | None] = {
    "dave": None,
    "carol": Role.VIEWER,
    "bob": Role.OPERATOR,
    "alice": Role.ADMIN,
}
CONFIG = """\
[api]
authentication_strategies = ["jwt"]
[web.auth]
allowed_usernames = ["alice", "bob", "carol", "dave"]
[roles]
admin = ["alice"]
operator = ["bob"]
viewer = ["carol"]
default = "none"
operators_own_runs_only = true
"""
NO_MODEL = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
GATED = (
    'digraph Gated { start [shape=Mdiamond]; approve [shape=hexagon, label="Ship it?"];'
    ' exit [shape=Msquare]; start -> approve; approve -> exit [label="[Y] Yes"] }'
)
DUMMY = "01ROLETABLE0000000000DUMMY"  # a run id shape no run has


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("roles")
    ensure_key_pair(workdir / "data" / "keys")
    started = start_server(workdir, config=CONFIG, env=NO_MODEL)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def clients(server: ServerProcess) -> Iterator[dict[str, httpx.Client]]:
    key = ensure_key_pair(server.workdir / "data" / "keys")
    opened = {
        user: server.client(token=mint_token(key, subject=user, issuer="fabro-web", ttl_s=600))
        for user in USERS
    }
    yield opened
    for client in opened.values():
        client.close()


def path_of(route: Route) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: DUMMY if m[0] == "{id}" else "x", route.path)


def call(client: httpx.Client, route: Route) -> httpx.Response:
    body = {} if route.method in ("POST", "PUT", "PATCH") else None
    with client.stream(route.method, path_of(route), json=body) as response:
        if not (route.events and response.status_code == 200):
            response.read()  # an event stream that opened is left unread: it never ends
    return response


def refusal(needed: Role, user: str) -> str:
    has = USERS[user]
    held = f"has {has.label}" if has is not None else "has no role"
    return f"This needs the {needed.label} role; {user} {held}."


def test_every_route_refuses_the_roles_below_its_own(clients: dict[str, httpx.Client]) -> None:
    walked = 0
    for route in ROUTES:
        if route.role is None:
            assert route.public
            continue
        for user, role in USERS.items():
            if role is not None and role > route.role:
                continue
            response = call(clients[user], route)
            where = f"{route.method} {route.path} as {user}"
            if role == route.role:
                assert response.status_code != 403, f"{where}: {response.text}"
            else:
                assert response.status_code == 403, f"{where}: {response.status_code}"
                (error,) = response.json()["errors"]
                assert error["detail"] == refusal(route.role, user), where
            walked += 1
    assert walked > 2 * len(ROUTES)  # every row, its role and at least one below


def test_public_routes_need_no_role(clients: dict[str, httpx.Client]) -> None:
    for route in ROUTES:
        if route.public:
            assert clients["dave"].get(route.path).status_code == 200, route.path


def test_user_shows_the_role(clients: dict[str, httpx.Client]) -> None:
    assert clients["bob"].get("/user").json() == {"login": "bob", "role": "operator"}


def start(client: httpx.Client) -> str:
    response = client.post("/runs", json={"dot_source": GATED})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def test_the_fast_lane_refuses_a_principal_without_a_role(
    clients: dict[str, httpx.Client],
) -> None:
    run_id = start(clients["alice"])
    assert clients["carol"].get(f"/runs/{run_id}").status_code == 200
    refused = clients["dave"].get(f"/runs/{run_id}")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"] == refusal(Role.VIEWER, "dave")


def test_an_operator_acts_only_on_its_own_runs(clients: dict[str, httpx.Client]) -> None:
    alices, bobs = start(clients["alice"]), start(clients["bob"])
    assert clients["bob"].get(f"/runs/{alices}").status_code == 200  # reads are not limited
    refused = clients["bob"].post(f"/runs/{alices}/cancel")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"] == NOT_OWNER
    assert clients["bob"].post(f"/runs/{bobs}/cancel").status_code == 200
    assert clients["alice"].post(f"/runs/{alices}/cancel").status_code == 200  # an admin may


def test_a_row_without_a_role_fails_at_import() -> None:
    with pytest.raises(ValueError, match="listThings needs a role"):
        Route("GET", "/things", "listThings", "Things", "List things", "REAL", 200)
    with pytest.raises(ValueError, match="getThing needs no role"):
        Route("GET", "/", "getThing", "T", "s", "REAL", 200, public=True, role=Role.VIEWER)
    assert Route("GET", "/x", "x", "T", "s", "REAL", 200, role=Role.VIEWER).role is Role.VIEWER


def test_the_openapi_document_shows_each_operation_s_role() -> None:
    paths = openapi_document()["paths"]
    for route in ROUTES:
        operation = paths[route.path][route.method.lower()]
        assert operation.get("x-fabro-role") == (route.role.label if route.role else None)
