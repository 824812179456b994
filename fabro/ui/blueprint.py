"""The UI's blueprint: its URL prefix, templates, static files and response headers."""

from __future__ import annotations

from quart import Blueprint, Response

ui = Blueprint(
    "ui",
    __name__,
    url_prefix="/ui",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# No inline script or style anywhere: everything comes from /ui/static. Graph SVGs are
# inline markup (no scripts in them), coloured by classes from the stylesheet.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # sign-in links carry a token in their query
    "X-Content-Type-Options": "nosniff",
}


@ui.after_request
async def ui_headers(response: Response) -> Response:
    response.headers.update(UI_HEADERS)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
