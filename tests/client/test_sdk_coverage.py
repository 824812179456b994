"""Every REAL route of the route table (fabro/api/routes*.py) is a method of the SDK: some
method's docstring names it as "`METHOD path`"; and the one that was missing, `GET /`, against
a real `fabro serve` on both clients."""

from __future__ import annotations

import asyncio

from fabro.api.bodies.common import RootResponse
from fabro.api.routes import ROUTES
from fabro.client import AsyncFabroClient, FabroClient
from tests.client.sdk_methods import method_docs
from tests.e2e.serverproc import ServerProcess


def test_every_real_route_is_named_by_a_method() -> None:
    docs = "\n".join(method_docs().values())
    real = [route for route in ROUTES if route.mark == "REAL"]
    assert len(real) >= 60
    missing = [f"{r.method} {r.path}" for r in real if f"`{r.method} {r.path}`" not in docs]
    assert missing == []


def test_the_discovery_document(fabro: FabroClient, server: ServerProcess) -> None:
    root = fabro.get_root()
    assert isinstance(root, RootResponse) and root.urls["openapi_url"] == "/openapi.json"

    async def awaited() -> RootResponse:
        async with AsyncFabroClient(server.url, env={}) as client:  # no credentials needed
            return await client.get_root()

    assert asyncio.run(awaited()) == root
