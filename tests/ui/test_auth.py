"""Signing in to the UI: links, pasted tokens, sessions, sign-out, CSRF, the API by cookie."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from quart import Quart
from quart.typing import TestClientProtocol as Client

from fabro.auth.keys import ensure_key_pair, mint_token
from fabro.auth.signin_links import LINK_TTL_S, signin_link
from fabro.clock import SYSTEM_CLOCK, format_ts
from fabro.config import Settings
from fabro.services import Services
from fabro.storage.ui_sessions import UiSession
from fabro.ui.auth import BAD_CSRF, BAD_LINK, COOKIE, SESSION_TTL
from tests.api.runs_helpers import LINEAR
from tests.conftest import USER
from tests.ui.conftest import csrf_of, open_session


def link_for(settings: Settings, user: str = USER, now: float | None = None) -> str:
    key = ensure_key_pair(settings.keys_dir)
    url = signin_link(
        key, "http://localhost", subject=user, issuer=settings.api.jwt.issuer, now=now
    )
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def session_cookie(response: object) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    cookies = [c for c in headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    assert len(cookies) == 1, cookies
    return str(cookies[0])


async def test_a_sign_in_link_opens_one_session_and_only_once(
    app: Quart, settings: Settings
) -> None:
    link = link_for(settings)
    client = app.test_client()
    first = await client.get(link)
    assert first.status_code == 303 and first.headers["Location"] == "/ui/"
    cookie = session_cookie(first)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; under TLS see tests/e2e/test_ui_signin.py
    user = await client.get("/user")  # the API by cookie
    assert user.status_code == 200 and (await user.get_json())["login"] == USER

    again = await app.test_client().get(link)
    assert again.status_code == 401
    page = await again.get_data(as_text=True)
    assert BAD_LINK.split(":")[0] in page and again.mimetype == "text/html"


async def test_links_refuse_expired_plain_and_unlisted_tokens(
    app: Quart, settings: Settings, make_token: Callable[..., str]
) -> None:
    client = app.test_client()
    expired = link_for(settings, now=time.time() - LINK_TTL_S - 120)
    assert (await client.get(expired)).status_code == 401
    plain = await client.get(f"/ui/signin/link?token={make_token()}")  # no purpose, no jti
    assert plain.status_code == 401
    assert (await client.get(link_for(settings, user="mallory"))).status_code == 401
    assert (await client.get("/ui/signin/link?token=x" + "a" * 20_000)).status_code == 401
    assert not client.cookie_jar or COOKIE not in {c.name for c in client.cookie_jar}


async def paste_form(client: Client) -> str:
    page = await (await client.get("/ui/signin?next=/ui/runs/new")).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match is not None
    return match[1]


async def test_a_pasted_token_signs_in_and_the_form_needs_its_csrf_token(
    app: Quart, settings: Settings, make_token: Callable[..., str]
) -> None:
    client = app.test_client()
    token = await paste_form(client)
    refused = await client.post(
        "/ui/signin", form={"token": make_token(), "csrf_token": "0" * 64, "next": "/ui/"}
    )
    assert refused.status_code == 403
    assert "CSRF token is missing or wrong" in await refused.get_data(as_text=True)
    wrong = await client.post("/ui/signin", form={"token": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    link_token = link_for(settings).split("token=", 1)[1]
    as_link = await client.post("/ui/signin", form={"token": link_token, "csrf_token": token})
    assert as_link.status_code == 400  # a link's token is not pasted: it works once, as a link
    ok = await client.post(
        "/ui/signin",
        form={"token": f"Bearer {make_token()}", "csrf_token": token, "next": "/ui/runs/new"},
    )
    assert ok.status_code == 303 and ok.headers["Location"] == "/ui/runs/new"
    assert (await client.get("/user")).status_code == 200


async def test_next_never_leaves_the_ui(app: Quart, make_token: Callable[..., str]) -> None:
    for target in ("https://evil.example/", "//evil.example/ui", "/runs", "/ui\\..\\x"):
        client = app.test_client()
        token = await paste_form(client)
        response = await client.post(
            "/ui/signin", form={"token": make_token(), "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == "/ui/", target


async def test_sign_out_revokes_the_session(app: Quart, services: Services) -> None:
    cookie = await open_session(services)
    client = app.test_client()
    client.set_cookie("localhost", COOKIE, cookie)
    assert (await client.get("/user")).status_code == 200
    without_csrf = await client.post("/ui/signout")
    assert without_csrf.status_code == 403
    out = await client.post("/ui/signout", form={"csrf_token": csrf_of(cookie)})
    assert out.status_code == 303 and out.headers["Location"] == "/ui/signin"
    replayed = app.test_client()
    replayed.set_cookie("localhost", COOKIE, cookie)  # a copy of the cookie kept elsewhere
    assert (await replayed.get("/user")).status_code == 401


async def test_unsafe_api_requests_by_cookie_need_the_csrf_header(
    ui_client: Client, ui_csrf: str
) -> None:
    body = {"dot_source": LINEAR}
    refused = await ui_client.post("/runs", json=body)
    assert refused.status_code == 403
    assert (await refused.get_json())["errors"][0]["detail"] == BAD_CSRF
    wrong = await ui_client.post("/runs", json=body, headers={"X-CSRF-Token": "f" * 64})
    assert wrong.status_code == 403
    made = await ui_client.post("/runs", json=body, headers={"X-CSRF-Token": ui_csrf})
    assert made.status_code == 201


async def test_an_unknown_cookie_is_no_sign_in(app: Quart) -> None:
    client = app.test_client()
    client.set_cookie("localhost", COOKIE, "made-up")
    assert (await client.get("/user")).status_code == 401
    signin = await client.post("/ui/signout", form={"csrf_token": csrf_of("made-up")})
    assert signin.status_code == 303 and signin.headers["Location"].startswith("/ui/signin")


async def test_a_session_past_its_expiry_is_no_sign_in(app: Quart, services: Services) -> None:
    now = SYSTEM_CLOCK.now()
    cookies = {}
    for name, expires in (("live", now + timedelta(minutes=1)), ("expired", now)):
        cookies[name] = secrets.token_urlsafe(32)
        await services.ui_sessions.open(
            UiSession(
                id_hash=hashlib.sha256(cookies[name].encode()).hexdigest(),
                login=USER,
                method="token",
                created_at=format_ts(now - SESSION_TTL),
                expires_at=format_ts(expires),
            )
        )
    live, expired = app.test_client(), app.test_client()
    live.set_cookie("localhost", COOKIE, cookies["live"])
    expired.set_cookie("localhost", COOKIE, cookies["expired"])
    assert (await live.get("/user")).status_code == 200  # the same session, a minute younger
    assert (await live.get("/ui/")).status_code == 200
    api = await expired.get("/user")
    assert api.status_code == 401 and (await api.get_json())["errors"][0]["status"] == "401"
    page = await expired.get("/ui/")
    assert page.status_code == 303
    assert page.headers["Location"] == "/ui/signin?next=/ui/"


async def test_ui_pages_carry_the_security_headers_and_no_inline_script(app: Quart) -> None:
    response = await app.test_client().get("/ui/signin")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    page = await response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # every script is a file
    assert " style=" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)


async def test_a_browser_asking_for_the_root_is_sent_to_the_ui(
    client: Client, auth_headers: dict[str, str]
) -> None:
    page = await client.get("/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 302 and page.headers["Location"] == "/ui/"
    api = await client.get("/", headers={"Accept": "*/*", **auth_headers})
    assert api.status_code == 200 and "urls" in await api.get_json()


async def test_a_link_token_used_as_a_bearer_token_expires_with_the_link(
    client: Client, settings: Settings
) -> None:
    key = ensure_key_pair(settings.keys_dir)
    token = mint_token(
        key, subject=USER, issuer=settings.api.jwt.issuer, ttl_s=1, now=time.time() - 120
    )
    assert (
        await client.get("/user", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401


async def test_errors_go_back_only_within_the_ui_and_scripts_get_the_envelope(
    ui_client: Client, ui_csrf: str
) -> None:
    here = await ui_client.post(
        "/ui/signout", headers={"Referer": "http://localhost/ui/runs/new?x=1"}
    )
    assert here.status_code == 403 and 'href="/ui/runs/new?x=1"' in await here.get_data(
        as_text=True
    )
    elsewhere = await ui_client.post("/ui/signout", headers={"Referer": "https://evil.example/ui/"})
    assert "evil.example" not in await elsewhere.get_data(as_text=True)
    script = await ui_client.post("/ui/signout", json={})
    assert script.status_code == 403 and script.mimetype == "application/json"
    assert (await script.get_json())["errors"][0]["detail"] == BAD_CSRF
