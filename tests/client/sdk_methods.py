"""The SDK's methods as the tests walk them: every method of ``Endpoints`` with its
docstring (the coverage test reads the routes they name; the async test calls each)."""

from __future__ import annotations

from fabro.client.endpoints import Endpoints
from fabro.client.methods import Iterating, Returning


def method_docs() -> dict[str, str]:
    """Each SDK method's name and docstring."""
    return {
        name: member.build.__doc__ or ""
        for area in Endpoints.__mro__
        for name, member in vars(area).items()
        if isinstance(member, Returning | Iterating)
    }
