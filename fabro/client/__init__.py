"""Clients of a running fabro server: the Python SDK (``FabroClient``, ``AsyncFabroClient``,
docs/client.md) and the helpers of the `fabro runs` commands."""

from fabro.client.sdk import AsyncFabroClient, FabroClient

__all__ = ["AsyncFabroClient", "FabroClient"]
