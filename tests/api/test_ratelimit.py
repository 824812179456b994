"""Rate limits per principal and class: the counters, and the app's headers and 429s (the
API's routes, the fast lane, the web UI), with a clock held still so windows do not move."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.api import ratelimit
from fabro.api.ratelimit import CONFIG_KEY, RateLimiter, rate_class
from fabro.auth.keys import ensure_key_pair
from fabro.config import Settings, load_settings
from fabro.governance.limits import RateLimitSettings
from fabro.services import Services
from fabro.ui.auth import COOKIE
from tests.api.asgi_calls import bearer, call
from tests.api.envelope import assert_envelope
from tests.api.runs_helpers import LINEAR
from tests.ui.conftest import open_session

LIMITS = RateLimitSettings(reads=4, writes=2, run_starts=1)


class Still:
    """A clock that moves only when told."""

    def __init__(self, now: float = 30.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- the counters --------------------------------------------------------------------------


def test_a_window_allows_the_limit_then_refuses_until_the_next() -> None:
    clock = Still(61.5)
    limiter = RateLimiter(LIMITS, clock)
    quotas = [limiter.take("alice", "writes") for _ in range(3)]
    assert [(q.remaining, q.allowed, q.reset_s) for q in quotas if q] == [
        (1, True, 59),
        (0, True, 59),
        (0, False, 59),
    ]
    refused = quotas[2]
    assert refused is not None and refused.headers()["Retry-After"] == "59"
    assert "Retry-After" not in (quotas[0].headers() if quotas[0] else {})
    clock.now = 119.2
    last = limiter.take("alice", "writes")
    assert last is not None and not last.allowed and last.reset_s == 1
    clock.now = 120.0  # the next window
    fresh = limiter.take("alice", "writes")
    assert fresh is not None and fresh.allowed and fresh.remaining == 1 and fresh.reset_s == 60


def test_classes_and_principals_count_apart_and_zero_is_unlimited() -> None:
    limiter = RateLimiter(RateLimitSettings(reads=1, writes=0, run_starts=1), Still())
    assert limiter.take("alice", "reads") is not None
    assert limiter.take("bob", "reads") is not None and limiter.take("alice", "run_starts")
    assert all(limiter.take("alice", "writes") is None for _ in range(50))
    again = limiter.take("alice", "reads")
    assert again is not None and not again.allowed


def test_old_windows_are_dropped_and_many_principals_share_a_bounded_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_COUNTERS", 10)
    clock = Still()
    limiter = RateLimiter(RateLimitSettings(reads=3), clock)
    quotas = [limiter.take(f"user{n}", "reads") for n in range(100)]
    assert len(limiter) == 11  # ten principals, then one counter the rest share
    assert sum(1 for q in quotas if q is not None and q.allowed) == 10 + 3
    clock.now += 60
    limiter.take("user0", "reads")
    assert len(limiter) == 1


@pytest.mark.parametrize(
    ("method", "endpoint", "kind"),
    [
        ("GET", "retrieveRun", "reads"),
        ("HEAD", "ui.board", "reads"),
        ("POST", "startRun", "run_starts"),
        ("POST", "ui.start_run", "run_starts"),
        ("POST", "cancelRun", "writes"),
        ("DELETE", "deleteSavedQuery", "writes"),
        ("POST", "ui.cancel", "writes"),
    ],
)
def test_each_request_has_its_class(method: str, endpoint: str, kind: str) -> None:
    assert rate_class(method, endpoint) == kind


# ---- the app ---------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    ensure_key_pair(tmp_path / "data" / "keys")
    path = tmp_path / "server.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[api]\nauthentication_strategies = ["jwt"]\n'
        '[web.auth]\nallowed_usernames = ["alice", "bob"]\n'
        "[rate_limits]\nreads = 4\nwrites = 2\nrun_starts = 1\n",
        encoding="utf-8",
    )
    return load_settings(path, env={"HOME": str(tmp_path)}).settings


@pytest.fixture
def clock(app: Quart) -> Still:
    still = Still()
    app.config[CONFIG_KEY].clock = still
    return still


def headers_of(response: object) -> tuple[str | None, str | None, str | None]:
    names = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
    return tuple(response.headers.get(name) for name in names)  # type: ignore[attr-defined,return-value]


async def test_reads_carry_the_headers_and_the_surplus_is_429(
    client: Client, auth_headers: dict[str, str], make_token: Callable[..., str], clock: Still
) -> None:
    answers = [await client.get("/user", headers=auth_headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert [headers_of(a) for a in answers] == [
        ("4", "3", "30"),
        ("4", "2", "30"),
        ("4", "1", "30"),
        ("4", "0", "30"),
        ("4", "0", "30"),
    ]
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "30"
    assert_envelope(
        await refused.get_json(),
        429,
        "Rate limit exceeded: 4 reads per minute ([rate_limits] reads); retry after 30 s.",
    )
    for _ in range(10):  # public routes are never limited, and say nothing of it
        health = await client.get("/health")
        assert health.status_code == 200 and headers_of(health) == (None, None, None)
    bob = {"Authorization": f"Bearer {make_token('bob')}"}
    other = await client.get("/user", headers=bob)
    assert other.status_code == 200 and headers_of(other) == ("4", "3", "30")
    clock.now += 30  # the next window
    assert (await client.get("/user", headers=auth_headers)).status_code == 200


async def test_writes_and_run_starts_have_limits_of_their_own(
    client: Client, auth_headers: dict[str, str], clock: Still
) -> None:
    started = await client.post("/runs", json={"dot_source": LINEAR}, headers=auth_headers)
    assert started.status_code == 201 and headers_of(started) == ("1", "0", "30")
    second = await client.post("/runs", json={"dot_source": LINEAR}, headers=auth_headers)
    assert_envelope(
        await second.get_json(),
        429,
        "Rate limit exceeded: 1 run starts per minute ([rate_limits] run_starts); "
        "retry after 30 s.",
    )
    run_id = (await started.get_json())["id"]
    writes = [await client.post(f"/runs/{run_id}/pause", headers=auth_headers) for _ in range(3)]
    assert [w.status_code for w in writes][2] == 429  # errors count too (a refused pause)
    assert [headers_of(w)[1] for w in writes] == ["1", "0", "0"]
    assert (await client.get(f"/runs/{run_id}", headers=auth_headers)).status_code == 200


async def test_the_fast_lane_counts_and_sends_the_headers(
    app: Quart, client: Client, auth_headers: dict[str, str], clock: Still
) -> None:
    started = await client.post("/runs", json={"dot_source": LINEAR}, headers=auth_headers)
    run_id = (await started.get_json())["id"]
    token = bearer(auth_headers["Authorization"].split()[1])
    answers = [await call(app, f"/runs/{run_id}", token) for _ in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 200, 429]
    remaining = [dict(headers).get(b"ratelimit-remaining") for _, headers, _ in answers]
    assert remaining == [b"3", b"2", b"1", b"0", b"0"]
    assert dict(answers[-1][1])[b"retry-after"] == b"30"


async def test_the_web_ui_counts_for_its_signed_in_principal(
    app: Quart, client: Client, services: Services, auth_headers: dict[str, str], clock: Still
) -> None:
    ui = app.test_client()
    ui.set_cookie("localhost", COOKIE, await open_session(services))
    pages = [await ui.get("/ui/") for _ in range(4)]
    assert [p.status_code for p in pages] == [200] * 4
    assert [headers_of(p)[1] for p in pages] == ["3", "2", "1", "0"]
    refused = await ui.get("/ui/")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "4 reads per minute" in (await refused.get_data(as_text=True))
    # The same principal over the API: the same window.
    assert (await client.get("/user", headers=auth_headers)).status_code == 429
    signin = await app.test_client().get("/ui/signin")  # public: not counted
    assert signin.status_code == 200 and headers_of(signin) == (None, None, None)
