"""The zero-config start banner of `fabro serve` (cli.md §5), read by the tests that start a
server with no configuration and need its printed token."""

from __future__ import annotations

import getpass

from tests.e2e.serverproc import ServerProcess


def banner_token(server: ServerProcess) -> str:
    """Check the §5 block line by line and return its token."""
    user = getpass.getuser()
    lines = server.stdout.splitlines()
    assert lines[0] == f"fabro server listening on {server.url}"
    assert (
        lines[1] == f'No server.toml found: zero-config mode, JWT authentication for user "{user}".'
    )
    assert lines[2:4] == ["Bearer token (valid 24 hours):", ""]
    assert lines[4].startswith("    eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.")
    token = lines[4].strip()
    assert lines[5:8] == [
        "",
        f'Try:  curl -H "Authorization: Bearer {token}" {server.url}/user',
        "New token later:  fabro token",
    ]
    assert server.stdout.count(token) == 2  # printed once: the block and its curl line
    return token
