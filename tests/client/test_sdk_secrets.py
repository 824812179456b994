"""The SDK's secrets methods against a real `fabro serve`, sync and async: typed results that
never carry a value, every page walked, the API's errors as the SDK's exceptions."""

from __future__ import annotations

import asyncio

import pytest

from fabro.api.bodies.secrets import SecretItem, SecretRotation
from fabro.client import AsyncFabroClient, FabroClient
from fabro.client.errors import BadRequestError, NotFoundError
from tests.e2e.serverproc import ServerProcess


def test_secrets_are_set_listed_rotated_and_deleted(fabro: FabroClient) -> None:
    names = [f"SDK_{n:03}" for n in range(105)]  # more than one page of 100
    for name in names:
        item = fabro.set_secret(name, f"value-of-{name}")
        assert isinstance(item, SecretItem) and item.name == name
    listed = [item.name for item in fabro.list_secrets()]
    assert [name for name in listed if name.startswith("SDK_")] == names
    rotation = fabro.rotate_secrets()
    assert isinstance(rotation, SecretRotation) and rotation.resealed >= len(names)
    for name in names:
        assert fabro.delete_secret(name) is None
    with pytest.raises(NotFoundError):
        fabro.delete_secret(names[0])
    with pytest.raises(BadRequestError, match="at least 8 characters"):
        fabro.set_secret("SDK_SHORT", "short")


def test_the_async_client_has_the_same_methods(server: ServerProcess, token: str) -> None:
    async def use() -> list[str]:
        async with AsyncFabroClient(server.url, token=token, env={}) as fabro:
            await fabro.set_secret("ASYNC_ONE", "async-value-1")
            names = [item.name async for item in fabro.list_secrets()]
            await fabro.rotate_secrets()
            await fabro.delete_secret("ASYNC_ONE")
            return names

    assert "ASYNC_ONE" in asyncio.run(use())
