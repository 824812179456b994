"""Signing in to the web UI: sessions, sign-in links, pasted tokens, client certificates, CSRF.

A browser signs in once, by one of the ways in (a sign-in link, a pasted JWT, or the client
certificate it presents under mutual TLS), and gets a session cookie: a random value that
only its SHA-256 identifies in the database (``fabro.storage.ui_sessions``), HttpOnly,
SameSite=Strict, Secure under TLS, expiring after SESSION_TTL. The same cookie authenticates
the API's routes for the page's scripts (``cookie_principal``).

CSRF: every POST under /ui/ (and every unsafe API request made with the cookie) carries a
token derived from the session's cookie value (an HMAC, so nothing more is stored), in the
form field ``csrf_token`` or the header ``X-CSRF-Token``. The sign-in form, before any session
exists, checks a token derived from a short-lived cookie of its own (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from quart import Request, Response, after_this_request, g, redirect, render_template, request
from quart import url_for as quart_url_for
from quart.typing import ResponseTypes

from fabro.api.audit import audit_action
from fabro.api.authorize import check_role
from fabro.api.context import services
from fabro.api.ratelimit import limit_request
from fabro.auth.chain import Credentials, Principal
from fabro.auth.jwt import JwtAuthenticator
from fabro.auth.signin_links import LINK_PURPOSE
from fabro.clock import SYSTEM_CLOCK, format_ts
from fabro.errors import BadRequest, FabroError, Forbidden, Unauthorized
from fabro.governance.roles import Role
from fabro.storage.ui_sessions import UiSession, UiSessions
from fabro.ui.blueprint import ui

COOKIE = "fabro_session"
SIGNIN_COOKIE = "fabro_signin"  # the sign-in form's double-submit value
SESSION_TTL = timedelta(hours=12)
SIGNIN_FORM_TTL_S = 30 * 60
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Endpoints a browser reaches before it is signed in.
PUBLIC_ENDPOINTS = frozenset({"ui.static", "ui.signin", "ui.signin_submit", "ui.signin_link"})
# The UI routes whose role is not their method's (a page reads: viewer; a POST acts: operator).
UI_ROLES: dict[str, Role | None] = {
    "ui.signout": None,  # a principal with no role may still leave
    "ui.new_run": Role.OPERATOR,  # a form for nothing but starting a run
    "ui.audit": Role.ADMIN,  # the audit log
}
MAX_TOKEN_FIELD = 16 * 1024  # a pasted token longer than this is no JWT of ours

BAD_LINK = (
    "This sign-in link is invalid, has expired or was already used. "
    "Ask for a new one with `fabro token --link`."
)
BAD_CSRF = "The form's CSRF token is missing or wrong: reload the page and try again."


# ---- what pages and templates use -------------------------------------------------------


def signed_in() -> Principal:
    """The signed-in principal of this UI request (set before every non-public UI route)."""
    principal: Principal = g.principal
    return principal


def signed_in_as() -> str | None:
    principal = g.get("principal")
    return principal.login if principal is not None else None


def can_act() -> bool:
    """Whether the signed-in principal may act (operator): templates hide the forms if not."""
    role: Role | None = g.get("role")
    return role is not None and role >= Role.OPERATOR


def csrf_token() -> str:
    """This session's CSRF token, for forms and ``<meta name="csrf-token">`` ('' signed out)."""
    cookie = g.get("ui_cookie")
    return _csrf_for(cookie) if cookie else ""


def safe_next(target: str | None, default: str = "/ui/") -> str:
    """``target`` when it is a path of this UI (never another site), else ``default``."""
    if not target or len(target) > 2048:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith("/ui"):
        return default
    if target.startswith("//"):
        return default
    return target


# ---- every UI request ------------------------------------------------------------------------


@ui.before_request
async def require_sign_in() -> ResponseTypes | None:
    if request.endpoint == "ui.static":
        return None  # stylesheets and scripts: no session read per file
    session_found = await _load_session(request)
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not session_found and not await _open_mtls_session():
        here = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(quart_url_for("ui.signin", next=safe_next(here)), 303)
    limit_request(signed_in().login)  # the API's rate limits, for the signed-in principal
    if request.method not in SAFE_METHODS:
        await _check_csrf()
    await _authorize()
    return None


@ui.errorhandler(FabroError)
async def ui_error(error: FabroError) -> ResponseTypes:
    """An error page, or the API's errors envelope for a script's JSON request."""
    if request.is_json:
        body = json.dumps(error.to_envelope())
        return Response(body, error.status, error.headers, mimetype="application/json")
    page = await render_template(
        "error.html", title=error.title, detail=error.detail, back=_back_link()
    )
    return Response(page, error.status, error.headers, mimetype="text/html")


def _back_link() -> str | None:
    """The page the browser came from, when it is a page of this UI (never another site)."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host or not referrer.path:
        return None
    target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return safe_next(target, default="") or None


async def _authorize() -> None:
    """The role check of every signed-in UI route, the API's own (fabro/api/authorize.py): a
    page reads (viewer), a POST acts (operator, on its own runs with operators_own_runs_only),
    unless UI_ROLES says otherwise."""
    by_method = Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR
    needed = UI_ROLES.get(request.endpoint or "", by_method)
    if needed is None:
        return
    run_id = (request.view_args or {}).get("run_id") if needed > Role.VIEWER else None
    g.role = await check_role(needed, signed_in(), services(), run_id)


async def _load_session(req: Request) -> bool:
    """Set ``g.principal`` and ``g.ui_cookie`` from a live session cookie; whether found."""
    cookie = req.cookies.get(COOKIE)
    if not cookie:
        return False
    session = await services().ui_sessions.find(_hash(cookie), _now())
    if session is None:
        return False
    g.principal = _principal(session)
    g.ui_cookie = cookie
    return True


async def _open_mtls_session() -> bool:
    """Sign in a browser by its client certificate (mutual TLS): a session for its CN."""
    tls = request.scope.get("extensions", {}).get("tls")
    if not tls:
        return False
    try:
        principal = services().auth.authenticate(Credentials(tls=tls))
    except FabroError:
        return False
    if principal.method != "mtls":
        return False
    await _start_session(principal.login, "mtls")
    return True


async def _check_csrf() -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form
        sent = form.get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(str(sent), csrf_token()):
        raise Forbidden(BAD_CSRF)


# ---- the API's routes, for the pages' scripts -------------------------------------------------


async def cookie_principal(req: Request) -> Principal | None:
    """The principal of a request that carries a live UI session cookie (and no other
    credential); an unsafe method must also carry the CSRF header. None without a cookie."""
    if not await _load_session(req):
        return None
    if req.method not in SAFE_METHODS:
        sent = req.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, csrf_token()):
            raise Forbidden(BAD_CSRF)
    principal: Principal = g.principal
    return principal


# ---- signing in and out ----------------------------------------------------------------------


@ui.route("/signin", methods=["GET"], endpoint="signin")
async def signin_page() -> Any:
    target = safe_next(request.args.get("next"))
    if g.get("principal") is not None or await _open_mtls_session():
        return redirect(target, 303)
    return await _signin_form(target, error=None, status=200)


@ui.route("/signin", methods=["POST"], endpoint="signin_submit")
async def signin_submit() -> Any:
    form = await request.form
    target = safe_next(form.get("next"))
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    if not nonce or not hmac.compare_digest(sent, _signin_csrf(nonce)):
        return await _signin_form(target, error=BAD_CSRF, status=403)
    token = str(form.get("token", "")).strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token or len(token) > MAX_TOKEN_FIELD:
        return await _signin_form(target, error="Paste a fabro JWT.", status=400)
    try:
        principal = services().auth.authenticate(Credentials(authorization=f"Bearer {token}"))
        if _claims(token).get("purpose") == LINK_PURPOSE:
            raise BadRequest("That is a sign-in link's token: open the link itself instead.")
    except FabroError as error:
        return await _signin_form(target, error=error.detail, status=error.status)
    await _start_session(principal.login, "token")
    return redirect(target, 303)


@ui.route("/signin/link", methods=["GET"], endpoint="signin_link")
async def signin_link() -> Any:
    token = request.args.get("token", "")
    if not token or len(token) > MAX_TOKEN_FIELD:
        raise Unauthorized(BAD_LINK)
    try:
        principal = services().auth.authenticate(Credentials(authorization=f"Bearer {token}"))
        claims = _claims(token)
    except FabroError:
        raise Unauthorized(BAD_LINK) from None
    jti = claims.get("jti")
    if claims.get("purpose") != LINK_PURPOSE or not isinstance(jti, str) or not jti:
        raise Unauthorized(BAD_LINK)
    expires = format_ts(SYSTEM_CLOCK.now() + timedelta(days=1))  # beyond any link's life
    if not await services().ui_sessions.use_link(jti[:200], _now(), expires):
        raise Unauthorized(BAD_LINK)
    await _start_session(principal.login, "link")
    return redirect("/ui/", 303)  # the board; the token leaves the address bar


@ui.route("/signout", methods=["POST"], endpoint="signout")
async def signout() -> Any:
    cookie = g.get("ui_cookie")
    if cookie:
        await services().ui_sessions.revoke(_hash(cookie), _now())
    response = redirect(quart_url_for("ui.signin"), 303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def _signin_form(target: str, *, error: str | None, status: int) -> Response:
    nonce = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    jwt_enabled = _jwt_authenticator() is not None
    page = await render_template(
        "signin.html",
        next=target,
        error=error,
        signin_csrf=_signin_csrf(nonce),
        jwt_enabled=jwt_enabled,
    )
    response = Response(page, status, mimetype="text/html")
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=SIGNIN_FORM_TTL_S,
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
        path="/ui/signin",
    )
    return response


async def open_session(sessions: UiSessions, login: str, method: str) -> tuple[str, UiSession]:
    """Store a new session for ``login``: its cookie value (never stored) and its record."""
    cookie = secrets.token_urlsafe(32)
    now = SYSTEM_CLOCK.now()
    session = UiSession(
        id_hash=_hash(cookie),
        login=login,
        method=method,
        created_at=format_ts(now),
        expires_at=format_ts(now + SESSION_TTL),
    )
    await sessions.open(session)
    return cookie, session


async def _start_session(login: str, method: str) -> None:
    """Open a session for ``login`` and have this request's response set its cookie."""
    cookie, session = await open_session(services().ui_sessions, login, method)
    g.principal = _principal(session)
    audit_action(f"ui.signin.{method}")  # recorded, even when it answers a GET
    g.ui_cookie = cookie
    secure = request.scheme == "https"

    @after_this_request
    async def set_cookie(response: ResponseTypes) -> ResponseTypes:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int(SESSION_TTL.total_seconds()),
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
        )
        return response


# ---- small parts ---------------------------------------------------------------------------------


def _principal(session: UiSession) -> Principal:
    return Principal(login=session.login, method="mtls" if session.method == "mtls" else "jwt")


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()


def _csrf_for(cookie: str) -> str:
    return hmac.new(cookie.encode("utf-8", "replace"), b"fabro-ui-csrf", "sha256").hexdigest()


def _signin_csrf(nonce: str) -> str:
    return hmac.new(nonce.encode("utf-8", "replace"), b"fabro-ui-signin", "sha256").hexdigest()


def _now() -> str:
    return format_ts(SYSTEM_CLOCK.now())


def _jwt_authenticator() -> JwtAuthenticator | None:
    for authenticator in services().auth.authenticators:
        if isinstance(authenticator, JwtAuthenticator):
            return authenticator
    return None


def _claims(token: str) -> dict[str, Any]:
    """The verified claims of a token the chain has just accepted."""
    authenticator = _jwt_authenticator()
    if authenticator is None:
        raise Unauthorized("Signing in with a JWT is not enabled on this server.")
    return authenticator.verify(token)
