"""`POST /ingest` on the clean worker's web server: articles sent over HTTP join the raw topic like a feed's.

A request is all or nothing: every object is checked with the raw topic's own rules (`streams.raw.parse_raw`, feed
field names) and cleaned once before anything is sent, so a client learns at once what the clean stage would have
dead-lettered, and the ids in the response are the ids the clean stage gives the articles. The clean core is pure
and this endpoint runs in the clean worker, so reusing it here cannot drift from what the agent does.

A request is bounded in articles (`ingest_max_articles`) and in time (`ingest_timeout`), and is cleaned one article
at a time with the event loop free in between: the worker's own agent, `/metrics` and other requests go on meanwhile.
A request with an `Idempotency-Key` header that is retried gets the first answer again instead of being sent again.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import faust
import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from agents.clean.core import clean_article
from agents.ingest.idempotency import Answer, IdempotencyKeys, KeyInFlight, KeyReused
from agents.ingest.pages import fit_raw_value
from streams.deadletter import BadInput, origin_headers
from streams.raw import parse_raw
from streams.settings import Settings
from streams.topics import Topics

PATH = "/ingest"
ORIGIN = "http"
JSON_TYPES = frozenset({"application/json"})
JSON_LINES_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines",
                              "application/json-lines"})
_READ_CHUNK = 64 * 1024
IDEMPOTENCY_KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_MAX_KEY_LENGTH = 255
RETRY_SAFE = "a repeat keeps its ids, so dedup marks the articles it already has as duplicates"

log = logging.getLogger(__name__)


class Rejected(Exception):
    """A request the endpoint refuses: the HTTP status and the JSON error body (never echoing the request)."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


@dataclass(frozen=True)
class Prepared:
    """One accepted object: the raw-topic value to send and the ids the clean stage will give its articles."""

    value: bytes
    ids: list[str]


def parse_body(body: bytes, content_type: str, *, max_articles: int) -> list[tuple[dict[str, Any], Any]]:
    """The objects of a request body, each with where it was (`{"line": n}` or `{"index": i}`) for error messages.

    `application/json` holds one object or an array of objects; JSON lines hold one object per non-blank line.
    More than `max_articles` objects are refused (413); JSON lines are counted before the next one is parsed.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, f"the body is not UTF-8: byte {exc.start} cannot be decoded", reason="not_utf8") from None
    if content_type in JSON_LINES_TYPES:
        items: list[tuple[dict[str, Any], Any]] = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            if len(items) == max_articles:
                raise _too_many(max_articles)
            try:
                items.append(({"line": number}, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                raise Rejected(400, f"line {number}: not valid JSON: {exc}", reason="malformed_json",
                               line=number) from None
    else:
        try:
            document = orjson.loads(body)  # counted once parsed: orjson takes ~30 ms for the largest body
        except orjson.JSONDecodeError as exc:
            raise Rejected(400, f"the body is not valid JSON: {exc}", reason="malformed_json") from None
        if isinstance(document, list):
            if len(document) > max_articles:
                raise _too_many(max_articles)
            items = [({"index": index}, item) for index, item in enumerate(document)]
        else:
            items = [({}, document)]
    if not items:
        raise Rejected(400, "the body holds no articles", reason="no_articles")
    return items


def _too_many(limit: int) -> Rejected:
    return Rejected(413, f"the request holds more than {limit} articles (WIREWATCH_INGEST_MAX_ARTICLES); send them "
                         "in several requests", reason="too_many_articles", limit=limit,
                    setting="WIREWATCH_INGEST_MAX_ARTICLES")


def request_origin(request_id: str) -> str:
    """The origin of a request's articles, which their records and dead letters carry: `http <request id>`."""
    return f"{ORIGIN} {request_id}"


def raw_value(where: dict[str, Any], obj: Any, *, origin: str, now: float) -> bytes:
    """The raw-topic value of one object of a request; `Rejected` (400) when it is not an object."""
    if not isinstance(obj, dict):
        raise _refused(where, BadInput("not_an_object", f"expected a JSON object, got {type(obj).__name__}"))
    return orjson.dumps({**obj, "origin": origin, "ingested_at": now})


def prepared_value(where: dict[str, Any], value: bytes, *, max_bytes: int) -> Prepared:
    """`value` with the ids the clean stage will give its articles; `Rejected` (400) when it would dead-letter it."""
    try:
        return Prepared(value, [article.id for article in clean_article(parse_raw(value, max_bytes=max_bytes))])
    except BadInput as error:
        raise _refused(where, error) from None


def prepare_articles(items: list[tuple[dict[str, Any], Any]], *, max_bytes: int, now: float,
                     origin: str = ORIGIN) -> list[Prepared]:
    """Raw-topic values (a page too large made to fit, see `agents.ingest.pages`) and clean ids for every object;
    `Rejected` (400) names the first one that fails."""
    return [prepared_value(where, fit_raw_value(raw_value(where, obj, origin=origin, now=now), max_bytes),
                           max_bytes=max_bytes) for where, obj in items]


def _refused(where: dict[str, Any], error: BadInput) -> Rejected:
    place = f"line {where['line']}" if "line" in where else f"item {where['index']}" if "index" in where else \
        "the article"
    return Rejected(400, f"{place}: {error}", reason=error.reason, **where)


async def prepare_in_turns(items: list[tuple[dict[str, Any], Any]], *, max_bytes: int, now: float,
                           origin: str = ORIGIN) -> list[Prepared]:
    """`prepare_articles` one article at a time, letting the event loop run in between: cleaning takes about 1 ms of
    CPU per wire, and a thousand in one go would hold the worker's agent, `/metrics` and other requests. A page
    that must be made to fit (up to seconds for 10 MB) is, in a thread.

    One article, not ten, per turn: answering an HTTP request takes the loop several turns, each waiting for one.
    """
    prepared: list[Prepared] = []
    for where, obj in items:
        value = raw_value(where, obj, origin=origin, now=now)
        if len(value) > max_bytes:
            value = await asyncio.to_thread(fit_raw_value, value, max_bytes)
        prepared.append(prepared_value(where, value, max_bytes=max_bytes))
        await asyncio.sleep(0)
    return prepared


async def send_all(topic: Any, key: bytes, values: list[bytes], origin: str) -> None:
    """Send every value with `key` and return once the broker has each; a failed delivery raises its `KafkaError`.

    Cancelled (the request ran out of time), it stops waiting but leaves the deliveries to the producer: a cancelled
    delivery future would break the producer's own callbacks when the broker answers.
    """
    deliveries = []
    for value in values:
        deliveries.append(await topic.send(key=key, value=value, headers=origin_headers(origin)))
        await asyncio.sleep(0)  # handing a record to the producer rarely waits, so let the loop run
    await asyncio.wait(deliveries)
    for delivery in deliveries:
        delivery.result()


def bearer_token_matches(header: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries `token` as its bearer token (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # aiohttp gives undecodable header bytes as lone surrogates; any string must compare, and fail, not raise.
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8"))


async def _read_body(request: web.Request, limit: int) -> bytes:
    too_large = Rejected(413, f"the body exceeds the {limit} byte limit (WIREWATCH_INGEST_MAX_BYTES)",
                         reason="too_large", limit=limit, setting="WIREWATCH_INGEST_MAX_BYTES")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    # Read the stream ourselves: aiohttp's own limit (client_max_size, 1 MiB) is not the one configured here.
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and not (key.strip() and len(key) <= _MAX_KEY_LENGTH):
        raise Rejected(400, f"an {IDEMPOTENCY_KEY} header holds 1 to {_MAX_KEY_LENGTH} characters",
                       reason="bad_idempotency_key")
    return key


def install_ingest_endpoint(app: faust.App, topics: Topics, settings: Settings) -> None:
    """Register `POST /ingest` on `app`'s web server; nothing is registered (404) when `ingest_token` is empty."""
    if not settings.ingest_token:
        return
    keys = IdempotencyKeys()

    @app.page(PATH)
    class Ingest(View):
        """Articles as JSON (an object or an array) or JSON lines → the raw topic; 202 with their clean ids."""

        async def post(self, request: Request) -> Response:
            try:
                return await self._ingest(cast("web.Request", request))  # Faust's aiohttp driver passes aiohttp's
            except Rejected as rejected:
                headers = None
                if rejected.status == 401:
                    headers = {"WWW-Authenticate": 'Bearer realm="wirewatch"'}
                return self.json({"error": str(rejected), **rejected.details}, status=rejected.status,
                                 headers=headers)

        async def _ingest(self, request: web.Request) -> Response:
            if not bearer_token_matches(request.headers.get("Authorization"), settings.ingest_token):
                raise Rejected(401, "a valid `Authorization: Bearer <token>` header is required")
            if request.content_type not in JSON_TYPES | JSON_LINES_TYPES:
                accepted = ", ".join(sorted(JSON_TYPES | JSON_LINES_TYPES))
                raise Rejected(415, f"content type {request.content_type!r} is not accepted (accepted: {accepted})")
            body = await _read_body(request, settings.ingest_max_bytes)
            key = _idempotency_key(request)
            if key is None:
                return self._answer(await self._accept(body, request.content_type))
            try:
                remembered = keys.begin(key, body)
            except KeyInFlight:
                raise Rejected(409, f"the first request with this {IDEMPOTENCY_KEY} is still in flight; retry once "
                                    "it is answered", reason="in_flight") from None
            except KeyReused:
                raise Rejected(422, f"this {IDEMPOTENCY_KEY} was used for a request with another body; send new "
                                    "articles with a new key", reason="key_reused") from None
            if remembered is not None:
                return self._answer(remembered, headers={REPLAYED: "true"})
            try:
                answer = await self._accept(body, request.content_type)
            except BaseException:
                keys.forget(key)  # refused or failed: a corrected or retried request is handled anew
                raise
            keys.finish(key, answer)
            return self._answer(answer)

        async def _accept(self, body: bytes, content_type: str) -> Answer:
            """Clean and send the request's articles within `ingest_timeout`: the 202 answer with their ids and the
            request id their records (and any dead letter) name as origin."""
            request_id = uuid.uuid4().hex[:12]
            origin = request_origin(request_id)
            try:
                async with asyncio.timeout(settings.ingest_timeout):
                    items = parse_body(body, content_type, max_articles=settings.ingest_max_articles)
                    prepared = await prepare_in_turns(items, max_bytes=settings.max_article_bytes, now=time.time(),
                                                      origin=origin)
                    # One key per request: its articles share a partition and reach dedup in the order given.
                    await send_all(topics.raw, f"http-{request_id}".encode(), [article.value for article in prepared],
                                   origin)
            except TimeoutError:
                log.warning("ingest endpoint ran out of time", extra={"timeout": settings.ingest_timeout})
                raise Rejected(503, f"the articles were not all cleaned and taken by the broker within "
                                    f"{settings.ingest_timeout:g} s (WIREWATCH_INGEST_TIMEOUT), and some may have "
                                    f"been sent; retry the request: {RETRY_SAFE}", reason="timeout",
                               limit=settings.ingest_timeout, setting="WIREWATCH_INGEST_TIMEOUT") from None
            except KafkaError as error:
                log.error("ingest endpoint send failed", extra={"error": f"{type(error).__name__}: {error}"})
                raise Rejected(503, f"the broker did not take every article; retry the request: {RETRY_SAFE}",
                               reason="broker") from None
            ids = [article_id for article in prepared for article_id in article.ids]
            log.info("ingest endpoint accepted articles", extra={"accepted": len(prepared), "origin": origin})
            return Answer(202, orjson.dumps({"accepted": len(prepared), "ids": ids, "request_id": request_id}))

        def _answer(self, answer: Answer, headers: dict[str, str] | None = None) -> Response:
            return self.bytes(answer.body, content_type="application/json", status=answer.status, headers=headers)
