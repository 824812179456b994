"""Webhook hosts looked up on threads of their own.

A name lookup (``getaddrinfo``) holds a thread until the resolver answers, and one the
resolver does not answer takes seconds (5 s per try with glibc's defaults); no timeout can
take the thread back. httpx looks names up on the event loop's default executor, which the
rest of the server shares: fabro's own work off the loop, and the model providers' lookups.
Receivers whose names resolve slowly would fill it, and every request needing a thread would
wait behind them (the API fuzz found it: graph renders queued behind webhook lookups).

So the sender looks each host up here, on ``THREADS`` threads of its own, and sends to the
addresses it got, in order until one connects, with the name as the ``Host`` header and, for
https, as the name the certificate must match (httpx's ``sni_hostname`` extension). A lookup
waits its turn within the attempt's timeout; one given up before it started is dropped from
the queue. The sender's client keeps no idle connections (sender.py): a connection opened to
an address for one name is never reused for another name at that address.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

THREADS = 4  # lookups at once, at most; the default executor never runs one


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL by each address of its host (to try in order), and
    what keeps the name."""

    urls: tuple[httpx.URL, ...]
    host_header: str
    extensions: dict[str, Any]


class Resolver:
    """Looks webhook hosts up on its own threads (see the module docstring)."""

    def __init__(self, threads: int = THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fabro-webhook-dns")

    async def target(self, url: str) -> Target:
        """``url`` by address; OSError (socket.gaierror) when its host does not resolve."""
        parsed = httpx.URL(url)
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        named = not _is_address(host)
        addresses = await self._addresses(host, port) if named else (host,)
        extensions: dict[str, Any] = {}
        if parsed.scheme == "https" and named:
            extensions["sni_hostname"] = host
        urls = tuple(parsed.copy_with(host=address) for address in addresses)
        return Target(urls, parsed.netloc.decode("ascii"), extensions)

    async def _addresses(self, host: str, port: int) -> tuple[str, ...]:
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        infos = await asyncio.get_running_loop().run_in_executor(self._pool, lookup)
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos))  # in order, once each

    def close(self) -> None:
        """Stop taking lookups; one in progress ends on its own thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
