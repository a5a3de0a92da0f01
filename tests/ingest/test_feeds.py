"""Feed ingest: RSS/Atom entries become raw messages once, across polls and restarts; teasers bring their pages."""
from __future__ import annotations

import asyncio
import hashlib
import http.server
import ipaddress
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agents.ingest.feeds import (
    MAX_REMEMBERED_IDS,
    FeedConfig,
    FeedPoller,
    StateStore,
    load_feeds,
    parse_feed,
    state_path,
)
from agents.ingest.fetch import address_refusal
from agents.ingest.files import RawMessage
from streams.raw import parse_raw
from streams.settings import Settings
from tests.conftest import REPO
from tests.kafka_io import read_to_end, read_topic_sync
from wirewatch import cli

LONG_BODY = "<p>" + "The central bank raised rates by half a point on Thursday. " * 30 + "</p>"


def rss_item(n: int, *, body: str | None = LONG_BODY, base: str = "http://news.example") -> str:
    content = f"<content:encoded><![CDATA[{body}]]></content:encoded>" if body else ""
    return f"""<item><title>Story {n}</title><link>{base}/articles/{n}.html</link>
      <guid isPermaLink="false">story-{n}</guid><pubDate>Thu, 0{n} Feb 2024 10:00:00 GMT</pubDate>
      <description>Teaser {n}.</description>{content}</item>"""


def rss(items: list[str]) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
  <title>Example Wire</title><link>http://news.example/</link><description>Test feed</description>
  {"".join(reversed(items))}
</channel></rss>""".encode()


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Daily</title><id>urn:atom-daily</id><updated>2024-03-02T12:00:00Z</updated>
  <entry><title>Second</title><id>urn:atom:2</id><link href="http://atom.example/2"/>
    <updated>2024-03-02T12:00:00Z</updated><content type="text">Plain text body of the second entry.</content></entry>
  <entry><title>First</title><id>urn:atom:1</id><link href="http://atom.example/1"/>
    <updated>2024-03-01T12:00:00Z</updated>
    <content type="html">&lt;p&gt;Markup body of the first entry.&lt;/p&gt;</content></entry>
</feed>"""


def allowed_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings.from_env({}, fetch_allow_private=True, data_dir=tmp_path / "data", **overrides)


def articles(messages: list[RawMessage]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in messages]


# ---- feed bytes → raw messages ----


def test_rss_entries_become_raw_objects_oldest_first() -> None:
    feed = FeedConfig(url="http://news.example/rss.xml")
    entries = parse_feed(rss([rss_item(1), rss_item(2)]), feed, now=lambda: 1700000000.0)
    assert [e.entry_id for e in entries] == ["story-1", "story-2"]
    first = entries[0].article
    assert first == {"id": "story-1", "title": "Story 1", "url": "http://news.example/articles/1.html",
                     "source": "Example Wire", "origin": "http://news.example/rss.xml", "ingested_at": 1700000000.0,
                     "published": "2024-02-01T10:00:00+00:00", "html": LONG_BODY}
    assert entries[0].page_url is None  # full content: no page to fetch
    message = entries[0].message(feed.url)
    assert message.key == feed.url
    assert parse_raw(message.value, max_bytes=900_000).title == "Story 1"


def test_atom_entries_keep_text_as_text_and_markup_as_html() -> None:
    feed = FeedConfig(url="http://atom.example/feed", source="Atom Wire")
    first, second = (e.article for e in parse_feed(ATOM, feed))
    assert (first["id"], first["html"], first["source"]) == ("urn:atom:1", "<p>Markup body of the first entry.</p>",
                                                             "Atom Wire")
    assert (second["text"], "html" in second) == ("Plain text body of the second entry.", False)


def test_summary_only_entries_ask_for_their_page_unless_told_not_to() -> None:
    teaser_feed = rss([rss_item(1, body=None)])
    auto = parse_feed(teaser_feed, FeedConfig(url="http://news.example/rss.xml"))[0]
    assert auto.page_url == "http://news.example/articles/1.html"
    assert auto.article["html"] == "Teaser 1."  # sent as is if the page cannot be fetched
    never = parse_feed(teaser_feed, FeedConfig(url="http://news.example/rss.xml", fetch_pages=False))[0]
    assert never.page_url is None
    always = parse_feed(rss([rss_item(1)]), FeedConfig(url="http://news.example/rss.xml", fetch_pages=True))[0]
    assert always.page_url == "http://news.example/articles/1.html"


def test_entries_without_body_or_id_are_still_sent_for_the_clean_stage_to_judge() -> None:
    feed = rss(["<item><title>Only a title</title></item>"])
    (entry,) = parse_feed(feed, FeedConfig(url="http://news.example/rss.xml"))
    assert entry.entry_id.startswith("sha1:") and entry.page_url is None
    assert entry.article["title"] == "Only a title"
    assert parse_feed(feed, FeedConfig(url="http://news.example/rss.xml"))[0].entry_id == entry.entry_id


def test_bytes_that_are_not_a_feed_are_an_error() -> None:
    with pytest.raises(ValueError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>Login</body></html", FeedConfig(url="http://news.example/"))


# ---- FEEDS.yaml ----


def test_the_example_feeds_file_loads() -> None:
    feeds = load_feeds(REPO / "deploy" / "feeds.example.yaml")
    assert feeds and all(f.url.startswith("https://") and f.interval > 0 for f in feeds)


@pytest.mark.parametrize("feed, error", [
    ("{interval: 60}", r"feed 1: `url` must be an http:// or https:// URL"),
    ("{url: 'file:///etc/passwd'}", r"feed 1: `url` must be an http"),
    ("{url: 'https://a.example/rss', interval: -5}", r"feed 1 \(https://a.example/rss\): `interval` must be positive"
     r"|`interval` must be a positive number"),
    ("{url: 'https://a.example/rss', interval: soon}", r"`interval` must be a positive number of seconds"),
    ("{url: 'https://a.example/rss', fetch_pages: maybe}", r"`fetch_pages` must be true or false"),
    ("{url: 'https://a.example/rss', sauce: BBC}", r"feed 1 \(https://a.example/rss\): unknown field\(s\) sauce"),
    ("{url: 'https://a.example/rss', source: ''}", r"`source` must be a non-empty string"),
])
def test_feeds_file_errors_name_the_feed_and_field(tmp_path: Path, feed: str, error: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - {feed}\n")
    with pytest.raises(ValueError, match=error):
        load_feeds(path)


def test_a_feeds_file_without_feeds_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: []\n")
    with pytest.raises(ValueError, match="non-empty `feeds:` list"):
        load_feeds(path)


# ---- state ----


def test_state_survives_a_reload_and_forgets_the_oldest_ids(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "feeds" / "state.json")
    state = store.feed("http://news.example/rss.xml")
    state.etag, state.last_modified = '"abc"', "Thu, 01 Feb 2024 10:00:00 GMT"
    for n in range(MAX_REMEMBERED_IDS + 5):
        state.remember(f"id-{n}")
    store.save()
    assert [p.name for p in (tmp_path / "feeds").iterdir()] == ["state.json"]  # the temporary file was renamed
    reloaded = StateStore(tmp_path / "feeds" / "state.json").feed("http://news.example/rss.xml")
    assert (reloaded.etag, reloaded.last_modified) == (state.etag, state.last_modified)
    assert len(reloaded.sent) == MAX_REMEMBERED_IDS and "id-4" not in reloaded.sent and "id-5" in reloaded.sent


def test_an_unreadable_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="move it away"):
        StateStore(path)


# ---- polling a local server ----


class FeedSite:
    """A local news site: RSS at /rss.xml (with ETag), Atom at /atom.xml, article pages under /articles/."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.honour_etag = True
        self.fail = False
        self.requests: list[tuple[str, str | None]] = []   # (path, If-None-Match)
        self.base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/rss.xml", self.rss)
        app.router.add_get("/atom.xml", self.atom)
        app.router.add_get("/articles/{n}.html", self.page)
        return app

    async def rss(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("If-None-Match")))
        if self.fail:
            return web.Response(status=503)
        body = rss(self.items)
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if self.honour_etag and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    async def atom(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("If-None-Match")))
        return web.Response(body=ATOM, content_type="application/atom+xml")

    async def page(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, None))
        n = request.match_info["n"]
        return web.Response(text=f"<html><head><title>Story {n}</title></head><body><article><p>Full story {n}."
                            "</p></article></body></html>", content_type="text/html", charset="utf-8")


@pytest.fixture
async def site() -> AsyncIterator[FeedSite]:
    feed_site = FeedSite()
    server = TestServer(feed_site.app(), host="127.0.0.1")
    await server.start_server()
    feed_site.base = str(server.make_url("")).rstrip("/")
    yield feed_site
    await server.close()


class Collector:
    def __init__(self) -> None:
        self.messages: list[RawMessage] = []

    async def __call__(self, message: RawMessage) -> None:
        self.messages.append(message)


async def poll_once(settings: Settings, feeds: list[FeedConfig], **kwargs: Any) -> list[RawMessage]:
    """A fresh poller (as after a restart) polls every feed once; returns what it sent."""
    sent = Collector()
    async with FeedPoller(settings, sent, **kwargs) as poller:
        await poller.poll_all(feeds)
    return sent.messages


async def test_first_poll_sends_every_entry_then_304s_and_restarts_send_nothing(site: FeedSite,
                                                                                 tmp_path: Path) -> None:
    site.items = [rss_item(1, base=site.base), rss_item(2, base=site.base)]
    feeds = [FeedConfig(url=f"{site.base}/rss.xml"), FeedConfig(url=f"{site.base}/atom.xml")]
    settings = allowed_settings(tmp_path)

    first = articles(await poll_once(settings, feeds))
    assert sorted(a["id"] for a in first) == ["story-1", "story-2", "urn:atom:1", "urn:atom:2"]
    assert [a["id"] for a in first if a["origin"] == feeds[0].url] == ["story-1", "story-2"]
    assert state_path(settings).is_file()

    site.requests.clear()
    assert await poll_once(settings, feeds) == []          # a restart: new poller, same state file
    rss_etag = next(etag for path, etag in site.requests if path == "/rss.xml")
    assert rss_etag is not None                            # the conditional GET was sent, and answered 304

    site.items.append(rss_item(3, base=site.base))
    assert [a["id"] for a in articles(await poll_once(settings, feeds))] == ["story-3"]


async def test_entries_already_sent_are_not_resent_when_the_server_ignores_etags(site: FeedSite,
                                                                                   tmp_path: Path) -> None:
    site.honour_etag = False
    site.items = [rss_item(1, base=site.base)]
    feeds = [FeedConfig(url=f"{site.base}/rss.xml")]
    settings = allowed_settings(tmp_path)
    assert len(await poll_once(settings, feeds)) == 1
    assert await poll_once(settings, feeds) == []


async def test_one_poller_polls_again_with_if_none_match(site: FeedSite, tmp_path: Path) -> None:
    site.items = [rss_item(1, base=site.base)]
    feed = FeedConfig(url=f"{site.base}/rss.xml")
    sent = Collector()
    async with FeedPoller(allowed_settings(tmp_path), sent) as poller:
        assert await poller.poll(feed) == 1
        assert await poller.poll(feed) == 0
        assert poller.report.unchanged == 1
    assert site.requests[0] == ("/rss.xml", None) and site.requests[1][1] is not None


async def test_each_feed_is_polled_on_its_interval(site: FeedSite, tmp_path: Path) -> None:
    interval = 0.2
    site.items = [rss_item(1, base=site.base)]
    sent = Collector()
    async with FeedPoller(allowed_settings(tmp_path), sent) as poller:
        began = time.monotonic()
        running = asyncio.create_task(poller.run_forever([FeedConfig(url=f"{site.base}/rss.xml", interval=interval)]))
        await asyncio.sleep(1.0)
        site.items.append(rss_item(2, base=site.base))
        await asyncio.sleep(1.0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        elapsed = time.monotonic() - began
    assert [a["id"] for a in articles(sent.messages)] == ["story-1", "story-2"]
    polls = sum(path == "/rss.xml" for path, _ in site.requests)
    # A poll, then the interval, then the next: never more than one poll per interval, and at least one per two
    # intervals even when a busy machine makes a poll as long as the interval.
    assert elapsed / (2 * interval) <= polls <= elapsed / interval + 1, (polls, elapsed)


async def test_summary_only_entries_are_sent_as_their_linked_page(site: FeedSite, tmp_path: Path) -> None:
    site.items = [rss_item(1, body=None, base=site.base)]
    sent = articles(await poll_once(allowed_settings(tmp_path), [FeedConfig(url=f"{site.base}/rss.xml")]))
    assert ("/articles/1.html", None) in site.requests
    (article,) = sent
    assert "<p>Full story 1.</p>" in article["html"]
    assert (article["title"], article["url"], article["published"], article["summary"]) == (
        "Story 1", f"{site.base}/articles/1.html", "2024-02-01T10:00:00+00:00", "Teaser 1.")


async def test_a_page_on_a_private_address_is_refused_and_the_summary_sent(site: FeedSite, tmp_path: Path) -> None:
    def loopback_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        return None if str(address) == "127.0.0.1" else address_refusal(address)

    site.items = [rss_item(1, body=None, base="http://10.0.0.1")]  # the entry links into a private network
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    sent = articles(await poll_once(settings, [FeedConfig(url=f"{site.base}/rss.xml")], policy=loopback_is_public))
    assert [(a["html"], a["url"]) for a in sent] == [("Teaser 1.", "http://10.0.0.1/articles/1.html")]


async def test_a_failed_poll_sends_nothing_and_is_retried_next_time(site: FeedSite, tmp_path: Path) -> None:
    site.items, site.fail = [rss_item(1, base=site.base)], True
    feeds = [FeedConfig(url=f"{site.base}/rss.xml")]
    settings = allowed_settings(tmp_path)
    sent = Collector()
    async with FeedPoller(settings, sent) as poller:
        await poller.poll_all(feeds)
        assert (poller.report.failed, sent.messages) == (1, [])
        site.fail = False
        await poller.poll_all(feeds)
    assert [a["id"] for a in articles(sent.messages)] == ["story-1"]


async def test_feeds_are_refused_on_private_addresses_by_default(site: FeedSite, tmp_path: Path) -> None:
    site.items = [rss_item(1, base=site.base)]
    sent = Collector()
    async with FeedPoller(Settings.from_env({}, data_dir=tmp_path / "data"), sent) as poller:
        await poller.poll_all([FeedConfig(url=f"{site.base}/rss.xml")])
        assert (poller.report.failed, sent.messages, site.requests) == (1, [], [])


# ---- the command, into Kafka ----


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def threaded_feed() -> Iterator[str]:
    _Handler.body = rss([rss_item(1), rss_item(2)])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/rss.xml"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_ingest_feeds_once_sends_the_entries_to_the_raw_topic(pipeline_settings: Settings, threaded_feed: str,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(f"feeds:\n  - url: {threaded_feed}\n    source: Local Wire\n    fetch_pages: false\n")
    monkeypatch.setenv("WIREWATCH_FETCH_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(pipeline_settings.data_dir))
    broker = ["--broker", pipeline_settings.broker, "--prefix", pipeline_settings.topic_prefix]
    assert cli.main(["ingest", "feeds", str(feeds_file), "--once", *broker]) == 0
    values = read_topic_sync(pipeline_settings, "raw", 2)
    assert [(v["id"], v["source"], v["origin"]) for v in values] == [
        ("story-1", "Local Wire", threaded_feed), ("story-2", "Local Wire", threaded_feed)]
    assert cli.main(["ingest", "feeds", str(feeds_file), "--once", *broker]) == 0  # nothing new the second time
    # A third run, the feed now with a marker entry: it alone follows, so the second run sent nothing (a run's
    # records are on the broker when the command returns: no waiting for quiet).
    _Handler.body = rss([rss_item(1), rss_item(2), rss_item(3)])
    assert cli.main(["ingest", "feeds", str(feeds_file), "--once", *broker]) == 0
    assert [v["id"] for v in read_to_end(pipeline_settings, "raw")] == ["story-1", "story-2", "story-3"]
