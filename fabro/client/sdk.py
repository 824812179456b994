"""``FabroClient`` and ``AsyncFabroClient``: the Python SDK (docs/client.md).

Both are the same ``Endpoints`` over a different driver: every method, its arguments, its
request, its decisions (fabro/client/core.py) and its typed result are written once
(fabro/client/endpoints/); how a client finds its server and credentials is ``Configured``,
and the I/O is its driver's (fabro/client/transport.py).
"""

from __future__ import annotations

from fabro.client.endpoints import Endpoints
from fabro.client.transport import AsyncTransport, SyncTransport


class FabroClient(SyncTransport, Endpoints):
    """A blocking client: ``with FabroClient() as fabro: fabro.get_run(run_id)``; list
    methods are iterators that fetch page after page."""


class AsyncFabroClient(AsyncTransport, Endpoints):
    """The same methods, awaited: ``async with AsyncFabroClient() as fabro: await
    fabro.get_run(run_id)``; list methods are async iterators."""
