"""The wire page's HTTP answers on the web worker: the page, its JSON, its event stream and the login.

    GET /wire                    the page (filters and views in its query: `?entity=…&rule=…`, `?story=ID`)
    GET /wire/static/NAME        its HTML, CSS and JavaScript (package data, no build step)
    GET /wire/api/stories        the filtered, paged listing (agents.web.query); `vector` starts the event stream
    GET /wire/api/story?id=      one story; GET /wire/api/entity?id= one entity; GET /wire/api/alerts?rule=
    GET /wire/events?after=      server-sent events (agents.web.events)
    GET|POST /wire/login         only when WIREWATCH_WIRE_TOKEN is set (agents.web.security)

While the worker reads its tables back or its partitions move, the JSON and the stream answer 503 (retry), never a
partial state, since a stream started on one would not be sent what came back later.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import faust
import orjson
from aiohttp import web

from agents.sinks.sse import send_events
from agents.web.core import Wire
from agents.web.events import BadVector, WireEvents, parse_vector
from agents.web.query import BadQuery, Filters, alerts_page, entity_page, listing, page_numbers, story_page
from agents.web.security import add_security_headers, login, token_middleware

STATIC_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
HELLO = b"retry: 1000\n: wirewatch wire\n\n"   # reconnect after a second; the subscription is in place once read


def static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files by name, with their content types, read once from the package."""
    folder = resources.files("agents.web") / "static"
    return {item.name: (item.read_bytes(), STATIC_TYPES[item.name[item.name.rfind("."):]])
            for item in folder.iterdir() if item.name[item.name.rfind("."):] in STATIC_TYPES}


class WireHandlers:
    """The request handlers, over the wire's state and events; `ready()` says whether the state is whole."""

    def __init__(self, wire: Wire, events: WireEvents, ready: Callable[[], bool], heartbeat: float) -> None:
        self.wire, self.events, self.ready, self.heartbeat = wire, events, ready, heartbeat
        self.files = static_files()
        self._built = False

    async def page(self, _: web.Request) -> web.StreamResponse:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    async def stories(self, request: web.Request) -> web.StreamResponse:
        return self._answer(lambda: listing(self.wire, Filters.from_query(request.query),
                                            *page_numbers(request.query)))

    async def story(self, request: web.Request) -> web.StreamResponse:
        return self._answer(lambda: story_page(self.wire, request.query.get("id", "")))

    async def entity(self, request: web.Request) -> web.StreamResponse:
        return self._answer(lambda: entity_page(self.wire, request.query.get("id", "")))

    async def alerts(self, request: web.Request) -> web.StreamResponse:
        return self._answer(lambda: alerts_page(self.wire, request.query.get("rule", "")))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """The event stream of one page, until it leaves, falls behind or the worker stops."""
        try:
            after = parse_vector(request.headers.get("Last-Event-ID") or request.query.get("after"))
        except BadVector as error:
            return _json({"error": str(error)}, 400)
        if not self._ensure_ready():
            return _json({"error": "the wire is being read back; retry shortly"}, 503, {"Retry-After": "1"})
        transport = request.transport
        client = self.events.subscribe(after, on_drop=transport.abort if transport is not None else lambda: None)
        try:
            return await send_events(request, client.subscription, HELLO, self.heartbeat)
        finally:
            self.events.unsubscribe(client)

    def _answer(self, make: Callable[[], Any]) -> web.StreamResponse:
        if not self._ensure_ready():
            return _json({"error": "the wire is being read back; retry shortly"}, 503, {"Retry-After": "1"})
        try:
            body = make()
        except BadQuery as error:
            return _json({"error": str(error)}, 400)
        if body is None:
            return _json({"error": "not found"}, 404)
        return _json(body)

    def _ensure_ready(self) -> bool:
        if not self.ready():
            self._built = False
            return False
        if not self._built:  # the tables are whole again: derive the indexes and vector from them
            self.wire.rebuild()
            self._built = True
        return True

    def _file(self, name: str) -> web.StreamResponse:
        if name not in self.files:
            return _json({"error": "not found"}, 404)
        body, content_type = self.files[name]
        return web.Response(body=body, content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})


def install_wire_views(app: faust.App, web_app: web.Application, handlers: WireHandlers, token: str) -> None:
    """Register the routes, the security headers and (with a token) the login and its check."""
    web_app.on_response_prepare.append(add_security_headers)
    if token:
        web_app.middlewares.append(token_middleware(token))
        login_page = handlers.files["login.html"][0]

        async def login_view(request: web.Request) -> web.StreamResponse:
            return await login(request, token, login_page)

        web_app.router.add_route("*", "/wire/login", login_view)
    router = web_app.router
    router.add_get("/wire", handlers.page)
    router.add_get("/wire/static/{name}", handlers.static)
    router.add_get("/wire/api/stories", handlers.stories)
    router.add_get("/wire/api/story", handlers.story)
    router.add_get("/wire/api/entity", handlers.entity)
    router.add_get("/wire/api/alerts", handlers.alerts)
    router.add_get("/wire/events", handlers.stream)

    async def let_clients_go(_: web.Application) -> None:
        handlers.events.close()  # aiohttp waits for open handlers before it stops

    web_app.on_shutdown.append(let_clients_go)


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(value), content_type="application/json", status=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})
