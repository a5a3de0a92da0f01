"""The wire page's guards: security headers on every answer, and the token when the page is not loopback-only.

Article text, titles and URLs are hostile: the page builds its DOM with `textContent` only, and the
Content-Security-Policy below lets nothing run or load but the page's own files. With WIREWATCH_WIRE_TOKEN set,
every request (the event stream included) needs the session cookie that `/wire/login` sets, or
`Authorization: Bearer <token>`; the cookie holds an HMAC of the token, never the token, and the token is in no URL,
page or log. The monitoring pages (`/metrics`, `/healthz`, `/readyz`) hold no article data and stay open for scrapes.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from streams.settings import ENV_PREFIX, Settings

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
COOKIE = "wirewatch_wire"
OPEN_PATHS = ("/metrics", "/healthz", "/readyz", "/wire/login")
OPEN_PREFIXES = ("/wire/static/",)   # the page's own code and style: no data, and the login page needs them

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """`ValueError` when the page would be reachable from other machines without a token."""
    if not is_loopback(settings.web_host) and not settings.wire_token:
        raise ValueError(f"{ENV_PREFIX}WEB_HOST={settings.web_host} is not a loopback address: the wire page needs "
                         f"{ENV_PREFIX}WIRE_TOKEN set to serve it there")


def session_value(token: str) -> str:
    """The cookie's value: proves the token was given without holding it."""
    return hmac.new(token.encode(), b"wirewatch wire session", hashlib.sha256).hexdigest()


def authorised(request: web.Request, token: str) -> bool:
    """True when the request carries the session cookie or the bearer token (compared in constant time)."""
    cookie = request.cookies.get(COOKIE, "")
    if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def token_middleware(token: str) -> Middleware:
    """Refuses (401) a request without the token, except the open paths; the page sends people to log in."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or authorised(request, token):
            return await handler(request)
        if path == "/wire":
            raise web.HTTPSeeOther("/wire/login")
        return web.json_response({"error": "log in at /wire/login or send Authorization: Bearer <token>"},
                                 status=401)

    return require_token


async def add_security_headers(_: web.Request, response: web.StreamResponse) -> None:
    """Every answer of the worker gets the headers (run on `on_response_prepare`)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def login(request: web.Request, token: str, page: bytes) -> web.StreamResponse:
    """GET: the login form; POST: the session cookie and back to the wire when the token is right, else 401."""
    if request.method != "POST":
        return web.Response(body=page, content_type="text/html", charset="utf-8")
    form = await request.post()
    given = form.get("token")
    if not token or not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
        return web.Response(body=page, content_type="text/html", charset="utf-8", status=401)
    response = web.HTTPSeeOther("/wire")
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="Strict", path="/")
    return response
