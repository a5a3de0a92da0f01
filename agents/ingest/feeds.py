"""RSS/Atom feeds → raw-topic messages: polls each feed on its interval, sends only entries not sent before.

What was sent (entry ids, ETag, Last-Modified) is kept per feed in `data_dir/feeds/state.json`, so a restart
re-sends nothing and an unchanged feed costs one 304.
"""
from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import orjson
import yaml
from aiokafka.errors import KafkaError
from yarl import URL

from agents.ingest.fetch import AddressPolicy, FetchError, client_session, fetch, settings_policy
from agents.ingest.files import RawMessage
from agents.ingest.producer import fit_or_dead_letter, kafka_producer
from streams.deadletter import origin_headers
from streams.metrics import ARTICLES
from streams.settings import Settings
from streams.topics import topic_name

STAGE = "ingest"
DEFAULT_INTERVAL = 300.0
MAX_REMEMBERED_IDS = 10_000          # per feed: far more than any feed lists at once
SHORT_SUMMARY_CHARS = 1_000          # auto mode: a summary this short is a teaser, so the page is fetched
FEED_KEYS = {"url", "interval", "source", "fetch_pages"}
HTML_TYPES = ("text/html", "application/xhtml+xml")

log = logging.getLogger(__name__)

SendFunction = Callable[[RawMessage], Awaitable[None]]


class SendError(Exception):
    """The send function could not deliver a message; the poll stops and the entry is sent on the next one."""


@dataclass(frozen=True)
class FeedConfig:
    """One feed of FEEDS.yaml."""

    url: str
    interval: float = DEFAULT_INTERVAL   # seconds between polls
    source: str | None = None            # outlet name; default: the feed's own title
    fetch_pages: bool | None = None      # None = auto: fetch the linked page when the entry has only a short summary


@dataclass(frozen=True)
class FeedEntry:
    """One feed entry as a raw-topic JSON object, plus the page to fetch for its body (if any)."""

    entry_id: str                   # what the state remembers: the entry's id/guid, else its link, else a hash
    article: dict[str, Any]         # the raw-topic JSON object (see `streams.raw.FIELD_ALIASES`)
    page_url: str | None = None     # fetch this page and send it as `html` instead of the summary
    timestamp: float | None = None  # published (else updated) unix seconds, for sending oldest first

    def message(self, feed_url: str) -> RawMessage:
        """The raw-topic message; keyed by feed so one feed's entries share a partition and keep their order."""
        return RawMessage(key=feed_url, value=orjson.dumps(self.article), origin=feed_url)


# ---- FEEDS.yaml ----


def load_feeds(path: Path) -> list[FeedConfig]:
    """The feeds of a FEEDS.yaml file; a ValueError names the file, the feed and the field when one is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot read feeds from {path}: no such file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("feeds"), list) or not document["feeds"]:
        raise ValueError(f"{path}: expected a mapping with a non-empty `feeds:` list")
    feeds = [_feed_config(path, number, item) for number, item in enumerate(document["feeds"], start=1)]
    urls = [f.url for f in feeds]
    duplicates = sorted({u for u in urls if urls.count(u) > 1})
    if duplicates:
        raise ValueError(f"{path}: feed listed twice: {', '.join(duplicates)}")
    return feeds


def _feed_config(path: Path, number: int, item: Any) -> FeedConfig:
    where = f"{path}: feed {number}"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping with `url`, got {type(item).__name__}")
    url = item.get("url")
    if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
        raise ValueError(f"{where}: `url` must be an http:// or https:// URL, got {url!r}")
    where = f"{path}: feed {number} ({url})"
    unknown = sorted(set(item) - FEED_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(FEED_KEYS))})")
    interval = item.get("interval", DEFAULT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < math.inf:
        raise ValueError(f"{where}: `interval` must be a positive number of seconds, got {interval!r}")
    source = item.get("source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise ValueError(f"{where}: `source` must be a non-empty string, got {source!r}")
    fetch_pages = item.get("fetch_pages")
    if fetch_pages is not None and not isinstance(fetch_pages, bool):
        raise ValueError(f"{where}: `fetch_pages` must be true or false (omit it for auto), got {fetch_pages!r}")
    return FeedConfig(url=url.strip(), interval=float(interval), source=source, fetch_pages=fetch_pages)


# ---- feed bytes → entries (pure) ----


def parse_feed(content: bytes, feed: FeedConfig, *, now: Callable[[], float] = time.time) -> list[FeedEntry]:
    """The entries of a fetched RSS/Atom document, oldest first, as raw-topic objects.

    Entries are never dropped here: one without a body or title still becomes a raw object, and the clean
    stage dead-letters it with the reason.
    """
    parsed = feedparser.parse(content)  # bytes, never a URL: feedparser must not fetch anything itself
    if parsed.get("bozo") and not parsed.entries:
        error = parsed.get("bozo_exception")
        raise ValueError(f"not an RSS or Atom feed: {type(error).__name__}: {error}")
    source = feed.source or parsed.feed.get("title") or None
    entries = [_entry(e, feed, source, now()) for e in parsed.entries]
    # Feeds list newest first; dedup needs originals before their updates, so send oldest first.
    entries.reverse()
    return sorted(entries, key=lambda e: math.inf if e.timestamp is None else e.timestamp)


def _entry(entry: Any, feed: FeedConfig, source: str | None, ingested_at: float) -> FeedEntry:
    link = entry.get("link") or None
    guid = entry.get("id") or link
    article: dict[str, Any] = {"id": guid, "title": entry.get("title"), "url": link, "source": source,
                               "origin": feed.url, "ingested_at": ingested_at}
    parsed_time = entry.get("published_parsed") or entry.get("updated_parsed")
    timestamp = float(calendar.timegm(parsed_time)) if parsed_time else None
    if timestamp is not None:
        article["published"] = datetime.fromtimestamp(timestamp, UTC).isoformat()
    else:
        article["published"] = entry.get("published") or entry.get("updated")
    contents = [c for c in entry.get("content") or [] if c.get("value")]
    body = max(contents, key=lambda c: len(c["value"])) if contents else entry.get("summary_detail")
    summary_only = not contents
    if body and body.get("value"):
        article["html" if body.get("type") in HTML_TYPES else "text"] = body["value"]
    wants_page = feed.fetch_pages if feed.fetch_pages is not None else (
        summary_only and len(entry.get("summary") or "") < SHORT_SUMMARY_CHARS)
    article = {k: v for k, v in article.items() if v not in (None, "")}
    # No id and no link: the entry is remembered by what it says, which is stable across polls.
    entry_id = guid or "sha1:" + hashlib.sha1(orjson.dumps(
        [article.get(k) for k in ("title", "published", "text", "html")])).hexdigest()
    return FeedEntry(entry_id=entry_id, article=article, page_url=link if wants_page and link else None,
                     timestamp=timestamp)


def with_page(entry: FeedEntry, page_html: str) -> FeedEntry:
    """`entry` with the fetched article page as its body; the feed's summary is kept beside it as `summary`."""
    article = {k: v for k, v in entry.article.items() if k not in ("text", "html")}
    summary = entry.article.get("html") or entry.article.get("text")
    article.update({"html": page_html, **({"summary": summary} if summary else {})})
    return FeedEntry(entry.entry_id, article, None, entry.timestamp)


# ---- what was sent, across restarts ----


@dataclass
class FeedState:
    """What one feed's last polls left: the validators for a conditional GET and the ids already sent."""

    etag: str | None = None
    last_modified: str | None = None
    sent: dict[str, None] = field(default_factory=dict)   # insertion-ordered set, oldest first

    def remember(self, entry_id: str) -> None:
        self.sent[entry_id] = None
        while len(self.sent) > MAX_REMEMBERED_IDS:
            del self.sent[next(iter(self.sent))]


class StateStore:
    """The JSON state file of all feeds; `save()` replaces it atomically (temp file + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.feeds: dict[str, FeedState] = {}
        if self.path.exists():
            try:
                document = orjson.loads(self.path.read_bytes())
                for url, item in document["feeds"].items():
                    self.feeds[url] = FeedState(item.get("etag"), item.get("last_modified"),
                                                dict.fromkeys(item.get("sent", [])))
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
                raise ValueError(f"feed state {self.path} is unreadable ({error}); move it away to start afresh "
                                 "(every entry still in the feeds will be sent again)") from None

    def feed(self, url: str) -> FeedState:
        return self.feeds.setdefault(url, FeedState())

    def save(self) -> None:
        document = {"version": 1, "feeds": {url: {"etag": s.etag, "last_modified": s.last_modified,
                                                   "sent": list(s.sent)} for url, s in self.feeds.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(orjson.dumps(document))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def state_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "feeds" / "state.json"


# ---- polling ----


@dataclass
class PollReport:
    """What polls sent, and how many feed fetches failed (they are retried on the next interval)."""

    sent: int = 0
    unchanged: int = 0      # 304 Not Modified
    failed: int = 0


class FeedPoller:
    """Polls feeds and hands new entries to `send`, remembering them in the state store."""

    def __init__(self, settings: Settings, send: SendFunction, *, state: StateStore | None = None,
                 policy: AddressPolicy | None = None, now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.send = send
        self.state = state or StateStore(state_path(settings))
        self.policy = policy or settings_policy(settings)
        self.now = now
        self.report = PollReport()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> FeedPoller:
        self._session = client_session(self.settings, self.policy)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def poll(self, feed: FeedConfig) -> int:
        """Fetch `feed` once (conditionally) and send its new entries; returns how many were sent."""
        state = self.state.feed(feed.url)
        headers = {k: v for k, v in (("If-None-Match", state.etag), ("If-Modified-Since", state.last_modified)) if v}
        try:
            response = await fetch(feed.url, self.settings, session=self._session, headers=headers,
                                   policy=self.policy)
            if response.status == 304:
                self.report.unchanged += 1
                return 0
            entries = parse_feed(response.body, feed, now=self.now)
        except (FetchError, ValueError) as error:
            reason = getattr(error, "reason", "not_a_feed")
            log.warning("feed poll failed", extra={"feed": _shown(feed.url), "reason": reason, "error": str(error)})
            self.report.failed += 1
            return 0
        sent = 0
        try:
            for entry in entries:
                if entry.entry_id in state.sent:
                    continue
                sending = await self._with_page(entry, feed) if entry.page_url else entry
                await self.send(sending.message(feed.url))
                state.remember(entry.entry_id)
                sent += 1
            # Validators are stored only once every entry went out, so an interrupted poll fetches the feed again.
            state.etag, state.last_modified = response.etag, response.last_modified
        except SendError as error:
            log.error("feed entries not delivered, retrying next poll",
                      extra={"feed": _shown(feed.url), "error": str(error)})
            self.report.failed += 1
        finally:
            self.state.save()
            self.report.sent += sent
        log.info("feed polled", extra={"feed": _shown(feed.url), "entries": len(entries), "sent": sent})
        return sent

    async def _with_page(self, entry: FeedEntry, feed: FeedConfig) -> FeedEntry:
        assert entry.page_url is not None
        try:
            page = await fetch(entry.page_url, self.settings, session=self._session, policy=self.policy)
        except FetchError as error:
            # The summary still goes out (nothing is dropped); the page is not retried.
            log.warning("article page fetch failed, sending the feed summary",
                        extra={"feed": _shown(feed.url), "reason": error.reason, "error": str(error)})
            return entry
        return with_page(entry, _decode_page(page.body, page.headers.get("Content-Type", "")))

    async def poll_all(self, feeds: Iterable[FeedConfig]) -> PollReport:
        """Poll every feed once, concurrently."""
        await asyncio.gather(*(self.poll(feed) for feed in feeds))
        return self.report

    async def run_forever(self, feeds: Iterable[FeedConfig]) -> None:
        """Poll each feed on its own interval until cancelled."""
        await asyncio.gather(*(self._loop(feed) for feed in feeds))

    async def _loop(self, feed: FeedConfig) -> None:
        while True:
            await self.poll(feed)
            await asyncio.sleep(feed.interval)


def _shown(url: str) -> str:
    """`url` fit for logs: private feeds often carry a token in the query or user info, so both are left out."""
    parsed = URL(url)
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


def _decode_page(body: bytes, content_type: str) -> str:
    charset = next((p.split("=", 1)[1].strip(' "\'') for p in content_type.split(";")
                    if p.strip().lower().startswith("charset=")), None)
    for encoding in (charset, "utf-8", "cp1252"):
        if encoding:
            try:
                return body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
    return body.decode("latin-1")


# ---- Kafka ----


async def ingest_feeds(feeds_file: Path, settings: Settings, *, once: bool = False) -> PollReport:
    """Poll the feeds of `feeds_file` into the raw topic: once each (`once`), or on their intervals forever."""
    feeds = load_feeds(feeds_file)
    producer = kafka_producer(settings)
    await producer.start()
    raw_topic = topic_name(settings, "raw")

    async def send(message: RawMessage) -> None:
        ARTICLES.labels(STAGE, "in").inc()
        fitting = await fit_or_dead_letter(producer, settings, message)
        if fitting is None:
            return
        try:
            await producer.send_and_wait(raw_topic, fitting.value, key=(fitting.key or "").encode(),
                                         headers=origin_headers(fitting.origin))
        except KafkaError as error:
            ARTICLES.labels(STAGE, "failed").inc()
            raise SendError(f"{type(error).__name__}: {error}") from error
        ARTICLES.labels(STAGE, "out").inc()

    try:
        async with FeedPoller(settings, send) as poller:
            if once:
                return await poller.poll_all(feeds)
            await poller.run_forever(feeds)
            return poller.report
    finally:
        await producer.stop()
