"""The wire page measured in Debian's chromium: ingest → appearance in the page, page weight, and the tab's memory
with many stories.

    .venv/bin/python -m benchmarks.wire_page [--articles 300] [--rate 5] [--stories 10000] [--live-seconds 60]

- **latency**: an embedded broker, the clean, dedup, tag, alert, entities and web workers, and a page open on the
  wire. A warm-up wire goes through until it shows in the page; then the first `--articles` Reuters wires by date
  are sent at a steady `--rate` a second, each stamped `ingested_at` as it is sent (`alert_latency.paced_ingest`),
  while the page notes when each story first shows in its list (a MutationObserver; the browser's clock is this
  machine's). Per story that a wire starts: its appearance − the wire's `ingested_at`, p50 / p99 / max.
- **page weight**: the bytes of the page's HTML, CSS and JavaScript as served, and gzipped.
- **memory**: on a fresh prefix, `--stories` made-up tagged articles (one story each, five entities, two added
  sentences) are written to the tagged topic, with only the web worker running; the page loads the wire, then
  another story arrives every 0.1 s for `--live-seconds` while the page is on the wire. Reported: the tab's JS
  heap and DOM node count (Chrome's `Performance.getMetrics`), the web worker's peak RSS, and how long the page's
  listing request and a headline search take with that many stories.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from agents.ingest.producer import ingest_paths, kafka_producer
from agents.web.http import static_files
from benchmarks.alert_latency import paced_ingest, percentiles_ms
from benchmarks.pipeline_throughput import WARMUP, Worker, check_alive, spawn, stop
from benchmarks.reuters import reuters_raw
from streams.records import CleanArticle, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import Settings
from streams.topics import topic_name
from tests.browser import DESKTOP, launch_chromium
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for

STAGES = ("clean", "dedup", "tag", "alert", "entities", "web")
TIMEOUT_MS = 600_000
FIRST_SEEN = """() => {
  window.firstSeen = {};
  const note = () => { for (const item of document.querySelectorAll('#stories > li.story'))
    if (!(item.dataset.id in window.firstSeen)) window.firstSeen[item.dataset.id] = Date.now(); };
  new MutationObserver(note).observe(document.getElementById('stories'), { childList: true });
  note();
}"""


def off_loop(call: Callable[[], Any]) -> Any:
    """`call()` in its own thread: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def wait_until(page: Page, done: Callable[[], bool], workers: list[Worker], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not done():
        check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        page.wait_for_timeout(200)


def open_wire(page: Page, workers: list[Worker]) -> None:
    """Load the wire page once the web worker answers."""
    url = f"http://127.0.0.1:{next(w for w in workers if w.stage == 'web').port}/wire"
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        try:
            page.goto(url)
            return
        except PlaywrightError:
            check_alive(workers)
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(500)


def latency(page: Page, settings: Settings, workers: list[Worker], logs: Path, *, articles: int,
            rate: float) -> dict[str, float]:
    """Ingest → first appearance in the page, per story a Reuters wire starts, in ms."""
    open_wire(page, workers)
    warmup = logs / "warmup.jsonl"
    warmup.write_bytes(orjson.dumps(WARMUP) + b"\n")
    off_loop(lambda: asyncio.run(ingest_paths([warmup], settings)))
    wait_until(page, lambda: page.locator(f'#stories > li.story[data-id="{WARMUP["id"]}"]').count() == 1,
               workers, "the warm-up wire in the page")
    page.evaluate(FIRST_SEEN)
    raws = reuters_raw(articles)
    sent = off_loop(lambda: asyncio.run(paced_ingest(settings, raws, rate)))
    ingested = {raw["id"]: at for raw, at in zip(raws, sent, strict=True)}

    def stories_total() -> int:
        return int(page.evaluate("fetch('/wire/api/stories?limit=1').then(r => r.json()).then(l => l.total)"))

    settled: list[int] = []

    def quiet() -> bool:  # the count of stories unchanged for 5 s after the last wire was sent
        settled.append(stories_total())
        return len(settled) > 25 and settled[-1] == settled[-26]

    wait_until(page, quiet, workers, "the stories to stop changing")
    seen: dict[str, float] = page.evaluate("window.firstSeen")
    delays = [seen[story] / 1000 - ingested[story] for story in seen if story in ingested]
    return {"stories": float(len(delays)), **percentiles_ms(delays)}


def made_up(number: int, start: datetime) -> TaggedArticle:
    """A tagged article starting its own story, with five entities and two added sentences."""
    names = [(f"Person {number % 997}", "PERSON"), (f"City {number % 211}", "GPE"), (f"Company {number % 503}", "ORG"),
             ("Reuters", "ORG"), (f"Country {number % 50}", "GPE")]
    title = f"Company {number % 503} agrees deal number {number} with City {number % 211}"
    mentions = [EntityMention(start=0, end=len(name), text=name, label=label, canonical=name) for name, label in names]
    article = CleanArticle(id=f"made-{number}", title=title, paragraphs=[title + "."], source=f"Outlet {number % 7}",
                           published=start + timedelta(seconds=number), language="en",
                           url=f"https://example.com/{number}", ingested_at=time.time())
    verdict = DedupVerdict(kind="new", story_id=article.id,
                           added_sentences=[f"The deal is worth {number} million.", "Talks took a year."])
    return TaggedArticle(article=article, verdict=verdict, entities=mentions)


async def send_tagged(settings: Settings, first: int, count: int, pause: float = 0.0) -> None:
    producer = kafka_producer(settings)
    await producer.start()
    start = datetime(2019, 1, 1, tzinfo=UTC)
    try:
        for number in range(first, first + count):
            tagged = made_up(number, start)
            await producer.send(topic_name(settings, "tagged"), tagged.dumps(), key=tagged.verdict.story_id.encode())
            if pause:
                await asyncio.sleep(pause)
        await producer.flush()
    finally:
        await producer.stop()


def tab_metrics(page: Page) -> dict[str, float]:
    session = page.context.new_cdp_session(page)
    session.send("HeapProfiler.collectGarbage")
    session.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    return {"js heap MiB": metrics["JSHeapUsedSize"] / 2**20, "DOM nodes": metrics["Nodes"]}


def memory(page: Page, settings: Settings, stories: int, live_seconds: float, logs: Path) -> dict[str, float]:
    """The tab and the web worker with `stories` stories, then after `live_seconds` of live arrivals."""
    workers = [spawn("web", settings, logs)]
    try:
        off_loop(lambda: asyncio.run(send_tagged(settings, 0, stories)))
        open_wire(page, workers)
        wait_until(page, lambda: page.locator("#count").inner_text() == f"{stories} stories", workers,
                   f"{stories} stories in the page")
        loaded = tab_metrics(page)
        live = int(live_seconds * 10)
        off_loop(lambda: asyncio.run(send_tagged(settings, stories, live, pause=0.1)))
        wait_until(page, lambda: page.locator("#count").inner_text() == f"{stories + live} stories", workers,
                   "the live stories in the page")
        after = tab_metrics(page)
        started = time.perf_counter()
        page.evaluate("fetch('/wire/api/stories?limit=50').then(r => r.json())")
        listing_ms = 1000 * (time.perf_counter() - started)
        started = time.perf_counter()
        page.fill("#search", f"deal number {stories - 1} ")   # no other story's number holds it
        expect(page.locator("#count")).to_have_text("1 story", timeout=TIMEOUT_MS)
        search_ms = 1000 * (time.perf_counter() - started)
        return {"stories": float(stories), "live stories": float(live),
                **{f"loaded: {k}": v for k, v in loaded.items()}, **{f"after live: {k}": v for k, v in after.items()},
                "web worker peak RSS MiB": workers[0].peak_rss_mib(), "listing request ms": listing_ms,
                "search (200 ms debounce included) ms": search_ms}
    finally:
        stop(workers)


def page_weight() -> dict[str, float]:
    files = static_files()
    served = [files[name][0] for name in ("index.html", "wire.css", "wire.js")]
    return {"bytes": float(sum(map(len, served))), "gzipped bytes": float(sum(len(gzip.compress(b)) for b in served))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    options = parser.parse_args()
    results: dict[str, dict[str, float]] = {"page weight": page_weight()}
    with tempfile.TemporaryDirectory(prefix="wire-page-") as folder, sync_playwright() as playwright:
        logs = Path(folder)
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport=DESKTOP)
        with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
            def fresh(name: str) -> Settings:
                settings = Settings.from_env({}, broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                             data_dir=logs / name)
                off_loop(lambda: asyncio.run(create_topics(settings)))
                (logs / name).mkdir()
                return settings

            settings = fresh("latency")
            workers = [spawn(stage, settings, logs / "latency") for stage in STAGES]
            try:
                results["ingest → page"] = latency(page, settings, workers, logs / "latency",
                                                   articles=options.articles, rate=options.rate)
            finally:
                stop(workers)
            results["memory"] = memory(page, fresh("memory"), options.stories, options.live_seconds, logs / "memory")
        browser.close()
    print(f"wire page, {datetime.now(UTC):%Y-%m-%d}: --articles {options.articles} --rate {options.rate} "
          f"--stories {options.stories} --live-seconds {options.live_seconds}")
    for section, figures in results.items():
        print(f"{section}: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
