"""SSRF-safe HTTP GET for feeds and article pages: public addresses only, bounded size, time and redirects.

Every address a host resolves to is checked, and the connection goes to one of those checked addresses (the
session's resolver does the checking), so a DNS answer that changes between check and connect cannot slip a
private address through. Redirects are followed by hand so each target is checked the same way.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy
from yarl import URL

from streams.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], "str | None"]   # None: allowed; else why the address is refused

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "wirewatch-ingest/0.1 (+https://github.com/wirewatch/wirewatch)"
CHUNK_BYTES = 64 * 1024


class FetchError(Exception):
    """A fetch that was refused or failed; `reason` is a short, bounded code fit for logs and metric labels."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FetchResult:
    """A response: the final URL (after redirects), status (200, or 304 for a conditional GET), headers, body."""

    url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("Last-Modified")


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` must not be fetched from (private, loopback, …), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 wrapped in IPv6 (::ffff:10.0.0.1, 6to4, Teredo) reaches the IPv4 host: judge that one.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return address_refusal(embedded)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # shared (100.64/10), benchmarking and other special-purpose ranges
        return "non-global"
    return None


def _allow_all(address: IPAddress) -> str | None:
    return None


def settings_policy(settings: Settings) -> AddressPolicy:
    """The address policy of `settings`: public addresses only, unless `fetch_allow_private`."""
    return _allow_all if settings.fetch_allow_private else address_refusal


def check_address(host: str, address: str | IPAddress, policy: AddressPolicy) -> None:
    """Raise `FetchError("private_address")` when `policy` refuses `address` (which `host` resolved to)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    refusal = policy(ip)
    if refusal is not None:
        shown = host if host == str(ip) else f"{host} ({ip})"
        raise FetchError("private_address", f"refused to fetch from {shown}: {refusal} address "
                         "(set WIREWATCH_FETCH_ALLOW_PRIVATE=true to allow)")


def check_url(url: str | URL) -> URL:
    """`url` parsed, when it is http(s) with a host; an IP-literal host is checked by `check_target`."""
    try:
        parsed = URL(str(url))
    except (ValueError, TypeError) as error:
        raise FetchError("bad_url", f"not a valid URL: {str(url).split('?', 1)[0][:200]!r} ({error})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError("bad_scheme", f"only http and https can be fetched, not {parsed.scheme or 'no scheme'!r}")
    if not parsed.host:
        raise FetchError("bad_url", f"URL has no host: {str(url).split('?', 1)[0][:200]!r}")
    return parsed


async def check_target(url: str | URL, policy: AddressPolicy) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, when `policy` allows every one; `FetchError` names the refusal.

    Called for the first URL and for every redirect target before any connection is made.
    """
    parsed = check_url(url)
    host = parsed.raw_host or ""
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        check_address(host, literal, policy)
        return [literal]
    resolver = GuardedResolver(policy)
    try:
        results = await resolver.resolve(host, parsed.port or 0, socket.AF_UNSPEC)
    finally:
        await resolver.close()
    return [ipaddress.ip_address(r["host"].split("%", 1)[0]) for r in results]


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses the whole host when any address it resolves to is refused by the policy.

    The connector connects only to addresses this resolver returned, so what was checked is what is connected to.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        try:
            results = await self._resolver.resolve(host, port, family)
        except OSError as error:
            raise FetchError("dns_failure", f"cannot resolve {host}: {error}") from None
        if not results:
            raise FetchError("dns_failure", f"cannot resolve {host}: no addresses")
        for result in results:
            check_address(host, result["host"], self._policy)
        return results

    async def close(self) -> None:
        await self._resolver.close()


def client_session(settings: Settings, policy: AddressPolicy | None = None) -> aiohttp.ClientSession:
    """A session whose every connection goes through the address policy (no proxies from the environment)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy or settings_policy(settings)),
                                     use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                 headers={"User-Agent": USER_AGENT})


async def fetch(url: str, settings: Settings, *, session: aiohttp.ClientSession | None = None,
                headers: Mapping[str, str] | None = None, policy: AddressPolicy | None = None) -> FetchResult:
    """GET `url` within the settings' limits; a 304 is returned (empty body), every other failure is `FetchError`.

    `session` should come from `client_session` (its resolver enforces the policy at connection time);
    `policy` defaults to the settings' (tests pass their own to treat loopback as public).
    """
    policy = policy or settings_policy(settings)
    own_session = session is None
    session = session or client_session(settings, policy)
    try:
        async with asyncio.timeout(settings.fetch_timeout):
            return await _fetch_following(url, settings, session, dict(headers or {}), policy)
    except TimeoutError:
        raise FetchError("timeout", f"no complete response within {settings.fetch_timeout} s") from None
    finally:
        if own_session:
            await session.close()


async def _fetch_following(url: str, settings: Settings, session: aiohttp.ClientSession,
                           headers: dict[str, str], policy: AddressPolicy) -> FetchResult:
    current = check_url(url)
    for _ in range(settings.fetch_max_redirects + 1):
        await check_target(current, policy)
        try:
            async with session.get(current, headers=headers, allow_redirects=False) as response:
                if response.status in REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError("bad_redirect", f"HTTP {response.status} without a Location header")
                    current = check_url(current.join(URL(location)))
                    continue
                if response.status == 304:
                    return FetchResult(str(current), 304, b"", _headers(response.headers))
                if response.status >= 400:
                    raise FetchError("http_status", f"HTTP {response.status} from {current.host}")
                body = await _read_capped(response, settings.fetch_max_bytes)
                return FetchResult(str(current), response.status, body, _headers(response.headers))
        except FetchError:
            raise
        except aiohttp.ClientConnectorError as error:
            cause = error.__cause__ or error.os_error
            if isinstance(cause, FetchError):  # the resolver's refusal, wrapped by aiohttp
                raise cause from None
            raise FetchError("connection", f"cannot connect to {current.host}: {error.os_error}") from None
        except (aiohttp.ClientError, ValueError) as error:
            raise FetchError("connection", f"fetching from {current.host} failed: {type(error).__name__}: "
                             f"{error}") from None
    raise FetchError("too_many_redirects", f"more than {settings.fetch_max_redirects} redirects")


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FetchError("too_large", f"response of {declared} bytes exceeds the {max_bytes} byte limit "
                         "(WIREWATCH_FETCH_MAX_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:  # stop reading: the rest is never downloaded
            raise FetchError("too_large", f"response exceeds the {max_bytes} byte limit (WIREWATCH_FETCH_MAX_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def _headers(headers: CIMultiDictProxy[str] | Mapping[str, Any]) -> dict[str, str]:
    kept = ("ETag", "Last-Modified", "Content-Type")
    return {name: headers[name] for name in kept if name in headers}
