"""SSRF-safe fetching: private addresses refused before any connection, redirects re-checked, size/time capped."""
from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents.ingest.fetch import FetchError, GuardedResolver, address_refusal, check_target, client_session, fetch
from streams.settings import Settings


def settings(**overrides: Any) -> Settings:
    return Settings.from_env({}, **overrides)


def loopback_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """A policy for tests: the local test server (127.0.0.1) plays a public site; everything else as in production."""
    return None if str(address) == "127.0.0.1" else address_refusal(address)


class NoNetwork:
    """A session that fails the test if a request is ever made with it."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a connection was attempted")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    hits: list[str] = []

    async def record(request: web.Request) -> None:
        hits.append(request.path)

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(text="<p>hello</p>", content_type="text/html", headers={"ETag": '"v1"'})

    async def hop(request: web.Request) -> web.Response:
        await record(request)
        remaining = int(request.match_info["n"])
        raise web.HTTPFound("/ok" if remaining == 0 else f"/hop/{remaining - 1}")

    async def redirect_to(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query["to"])

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def big_streamed(request: web.Request) -> web.StreamResponse:  # no Content-Length: chunked
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"y" * 1000)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/hop/{n}", hop)
    app.router.add_get("/redirect", redirect_to)
    app.router.add_get("/big", big)
    app.router.add_get("/big-streamed", big_streamed)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    test_server = TestServer(app, host="127.0.0.1")
    test_server.hits = hits  # type: ignore[attr-defined]
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.mark.parametrize("address, refusal", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.1", "private"), ("192.168.1.1", "private"),
    ("172.16.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("fc00::1", "private"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("240.0.0.1", "reserved"), ("100.64.0.1", "non-global"),
    ("::ffff:169.254.169.254", "link-local"), ("2002:0a00:0001::", "private"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None),
])
def test_address_refusal_names_the_kind_of_address(address: str, refusal: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == refusal


@pytest.mark.parametrize("url", ["http://localhost/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
                                 "http://10.0.0.1/", "http://0.0.0.0/", "http://[::ffff:10.0.0.1]/"])
async def test_private_targets_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        await fetch(url, settings(), session=NoNetwork())  # type: ignore[arg-type]
    assert refused.value.reason == "private_address"
    assert "WIREWATCH_FETCH_ALLOW_PRIVATE" in str(refused.value)


async def test_the_loopback_server_is_refused_and_never_reached(server: TestServer) -> None:
    for url in (str(server.make_url("/ok")), f"http://localhost:{server.port}/ok"):
        with pytest.raises(FetchError, match="loopback address") as refused:
            await fetch(url, settings())
        assert refused.value.reason == "private_address"
    assert server.hits == []  # type: ignore[attr-defined]


async def test_the_session_resolver_refuses_at_connection_time(server: TestServer) -> None:
    # Even a request that skipped `check_target` cannot connect: the connector only gets checked addresses.
    async with client_session(settings()) as session:
        with pytest.raises(FetchError, match="loopback"):
            await session.get(f"http://localhost:{server.port}/ok")
    assert server.hits == []  # type: ignore[attr-defined]


async def test_a_host_with_any_private_address_is_refused() -> None:
    class Rebinding:
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
            return [{"hostname": host, "host": ip, "port": port, "family": 2, "proto": 0, "flags": 0}
                    for ip in ("93.184.216.34", "10.0.0.1")]

    resolver = GuardedResolver(address_refusal)
    resolver._resolver = Rebinding()  # type: ignore[assignment]
    with pytest.raises(FetchError, match=r"news.example \(10.0.0.1\): private address"):
        await resolver.resolve("news.example", 80)


@pytest.mark.parametrize("url, reason", [("file:///etc/passwd", "bad_scheme"), ("ftp://example.com/feed", "bad_scheme"),
                                         ("gopher://127.0.0.1:70/", "bad_scheme"), ("http:///nohost", "bad_url")])
async def test_only_http_and_https_urls_with_a_host_are_fetched(url: str, reason: str) -> None:
    with pytest.raises(FetchError) as refused:
        await fetch(url, settings(fetch_allow_private=True), session=NoNetwork())  # type: ignore[arg-type]
    assert refused.value.reason == reason


async def test_check_target_gives_the_allowed_addresses_and_refuses_private_ones() -> None:
    assert await check_target("http://127.0.0.1:8080/feed", loopback_is_public) == [ipaddress.ip_address("127.0.0.1")]
    for target in ("http://10.0.0.1/", "http://[::1]:8080/", "http://169.254.169.254/"):
        with pytest.raises(FetchError, match="address"):
            await check_target(target, loopback_is_public)


@pytest.mark.parametrize("target", ["http://10.0.0.1/admin", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]:{port}/ok", "file:///etc/passwd"])
async def test_a_redirect_from_an_allowed_server_to_a_private_address_is_refused(server: TestServer,
                                                                                  target: str) -> None:
    redirect = server.make_url("/redirect").with_query(to=target.format(port=server.port))
    with pytest.raises(FetchError) as refused:
        await fetch(str(redirect), settings(), policy=loopback_is_public)
    assert refused.value.reason in {"private_address", "bad_scheme"}
    assert server.hits == ["/redirect"]  # type: ignore[attr-defined]


async def test_redirects_are_followed_up_to_the_limit(server: TestServer) -> None:
    allowed = settings(fetch_allow_private=True, fetch_max_redirects=3)
    result = await fetch(str(server.make_url("/hop/2")), allowed)  # three redirects: hop/2 → 1 → 0 → ok
    assert (result.status, result.body, result.url) == (200, b"<p>hello</p>", str(server.make_url("/ok")))
    with pytest.raises(FetchError, match="more than 3 redirects") as refused:
        await fetch(str(server.make_url("/hop/3")), allowed)
    assert refused.value.reason == "too_many_redirects"


async def test_a_conditional_get_returns_the_304(server: TestServer) -> None:
    allowed = settings(fetch_allow_private=True)
    first = await fetch(str(server.make_url("/ok")), allowed)
    assert first.etag == '"v1"'
    second = await fetch(str(server.make_url("/ok")), allowed, headers={"If-None-Match": first.etag})
    assert (second.status, second.body) == (304, b"")


@pytest.mark.parametrize("path", ["/big", "/big-streamed"])
async def test_responses_beyond_the_size_cap_are_refused(server: TestServer, path: str) -> None:
    with pytest.raises(FetchError, match="1000 byte limit") as refused:
        await fetch(str(server.make_url(path)), settings(fetch_allow_private=True, fetch_max_bytes=1000))
    assert refused.value.reason == "too_large"


async def test_slow_responses_time_out(server: TestServer) -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(FetchError) as refused:
        await fetch(str(server.make_url("/slow")), settings(fetch_allow_private=True, fetch_timeout=0.3))
    assert refused.value.reason == "timeout"
    assert asyncio.get_running_loop().time() - started < 2


async def test_error_statuses_are_fetch_errors(server: TestServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as refused:
        await fetch(str(server.make_url("/missing")), settings(fetch_allow_private=True))
    assert refused.value.reason == "http_status"
