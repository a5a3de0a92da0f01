"""The wire page in a real browser (Debian's chromium, driven by Playwright) against a running pipeline on the
embedded broker: the seeds as one story, live arrivals, filters and pages by clicking and typing, hostile articles
shown as text, a web worker killed and started again, screenshots at desktop and phone widths."""
from __future__ import annotations

import asyncio
import http.client
import re
import signal
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Error, Page, expect, sync_playwright

from agents.ingest.producer import ingest_paths
from agents.web.security import COOKIE
from benchmarks.reuters import reuters_raw
from benchmarks.shared_data import REUTERS
from streams.settings import Settings
from tests.browser import DESKTOP, PHONE, launch_chromium
from tests.conftest import SpawnedWorker, wait_for
from tests.kafka_io import read_topic_sync

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
STAGES = ("clean", "dedup", "tag", "alert", "entities", "web")
WAIT_MS = 90_000   # the first articles wait for every worker to join and tag to load its model
HOSTILE = {
    "id": "hostile-1",
    "title": "Mayor resigns <3 & x<y>z <img src=x onerror=alert('title')//",
    "text": "The mayor of Springfield resigned on Monday after a vote of the council.\n\n"
            "Council members said the vote was close and that an election would follow within weeks.",
    "source": "<script src=\"data:text/javascript,alert('src')\"></script><img src=x onerror=alert('source')>Evil",
    "url": "javascript:alert('url')",
    "published": "2019-07-01T08:00:00Z",
}
DATA_URL = {**HOSTILE, "id": "hostile-2",  # its title tries a same-origin script, which the CSP would let run
            "title": "Harbour closes <svg/onload=alert(1)// <script src=/wire/static/wire.js?x//",
            "text": "The harbour of Eastport closed on Tuesday because of a storm that flooded the docks.",
            "source": "Plain", "url": "data:text/html,<script>alert('data')</script>"}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def live_wires(count: int) -> list[dict[str, Any]]:
    """Reuters wires (the shared data set) when it is here, else made-up ones, all distinct stories."""
    if REUTERS.exists():
        return reuters_raw(count)
    return [{"id": f"wire-{n}", "title": f"Port number {n} reopens", "source": "Wire", "published": "2019-06-01",
             "text": f"Port number {n} reopened on Friday after {n + 3} days of repairs to its quay {n * 7}."}
            for n in range(count)]


def restart_wires() -> list[dict[str, Any]]:
    """Three unrelated stories (dedup must not join them), newer than everything else on the wire."""
    texts = [("Glacier survey finds record melt", "Scientists measuring the Rhone glacier found it lost four metres "
              "of ice this summer, the fastest melt since records began."),
             ("Chess prodigy wins open tournament", "A twelve-year-old from Chennai won the Biel open chess "
              "tournament on Sunday, beating three grandmasters in the final rounds."),
             ("Bakery chain recalls rye bread", "A Danish bakery chain recalled its rye loaves after inspectors "
              "found traces of undeclared sesame in two batches.")]
    return [{"id": f"late-{n}", "title": title, "source": "Late Wire", "published": f"2019-07-02T0{n}:00:00Z",
             "text": text} for n, (title, text) in enumerate(texts)]


def off_loop(call: Callable[[], Any]) -> Any:
    """`call()` in a thread of its own: Playwright's sync API runs an event loop in this one, so `asyncio.run`
    (ingest, reading topics) cannot run here while the browser is open."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


class Watched:
    """A page with every dialog and console error it raised, and whether it ever loaded again."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        # Logged by the browser, not by a script: a dropped event stream (the worker killed on purpose) and the
        # 503 answers the page retries while the worker reads its tables back.
        expected = ("net::ERR_", "/wire/events", "status of 503")
        if message.type == "error" and not any(text in message.text for text in expected):
            self.errors.append(message.text)

    def _page_error(self, error: Error) -> None:
        self.errors.append(str(error))

    def counter(self, name: str) -> int:
        return int(self.page.evaluate(f"Number(document.documentElement.dataset.{name} || 0)"))


def story_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("#stories > li.story", "items => items.map(item => item.dataset.id)")


def shoot(page: Page, folder: Path, name: str) -> None:
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=label == "desktop")
    page.set_viewport_size(DESKTOP)


def test_the_wire_page_live_in_a_browser(spawn_worker: Callable[..., SpawnedWorker], pipeline_settings: Settings,
                                         seed_paths: list[Path], tmp_path: Path) -> None:
    workers = {stage: spawn_worker(stage, pipeline_settings) for stage in STAGES}
    run = Run(pipeline_settings, tmp_path, f"http://127.0.0.1:{workers['web'].web_port}")
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    new, update, _ = read_topic_sync(pipeline_settings, "tagged", 3, timeout=120)
    run.expected = 3
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport=DESKTOP)
        watched = Watched(page)
        see_the_seeds(page, run, new["verdict"]["story_id"], update)
        see_an_entity_and_filter_by_it(page, run)
        wires = see_live_arrivals_search_and_keys(page, run)
        see_hostile_articles_as_text(page, run, watched)
        kill_and_restart_the_web_worker(page, run, watched, workers["web"], spawn_worker)
        ids = story_ids(page)
        assert len(ids) == len(set(ids)) == len(run.stories())
        assert watched.dialogs == [] and watched.errors == [], (watched.dialogs, watched.errors)
        browser.close()
    assert len(wires) == 12
    assert sorted(p.name for p in run.shots.iterdir()) == [
        "story-desktop.png", "story-phone.png", "wire-desktop.png", "wire-phone.png"]


class Run:
    """What the parts of the browser test share: settings, folders, the page's address, how many articles."""

    def __init__(self, settings: Settings, folder: Path, base: str) -> None:
        self.settings, self.folder, self.base = settings, folder, base
        self.shots = folder / "screenshots"
        self.shots.mkdir()
        self.expected = 0

    def ingest(self, name: str, records: list[dict[str, Any]]) -> None:
        """Send `records` through the pipeline and wait until all of them are tagged."""
        path = write_jsonl(self.folder / f"{name}.jsonl", records)
        off_loop(lambda: asyncio.run(ingest_paths([path], self.settings)))
        self.expected += len(records)

    def tagged(self) -> dict[str, dict[str, Any]]:
        records = off_loop(lambda: read_topic_sync(self.settings, "tagged", self.expected, timeout=90))
        assert len(records) == self.expected
        return {t["article"]["id"]: t for t in records}

    def stories(self) -> set[str]:
        return {t["verdict"]["story_id"] for t in self.tagged().values()}


def see_the_seeds(page: Page, run: Run, story_id: str, update: dict[str, Any]) -> None:
    """One story with its three versions, the alerts in their column; its page with the added sentences."""
    response = page.goto(run.base + "/wire", wait_until="domcontentloaded", timeout=WAIT_MS)
    assert response is not None
    headers = response.all_headers()
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    story = page.locator(f'#stories > li.story[data-id="{story_id}"]')
    expect(story.locator(".versions")).to_have_text("3 versions", timeout=WAIT_MS)
    expect(story.locator(".badge")).to_have_text("same story")
    expect(page.locator("#stories > li.story")).to_have_count(1)
    expect(page.locator("#alerts > li.alert")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#alerts .trigger")).to_have_text(["new development", "new story"], timeout=30_000)
    expect(page.locator("#status")).to_have_text("live")

    story.locator("a.headline").click()
    expect(page).to_have_url(f"{run.base}/wire?story={story_id}")
    versions = page.locator(".timeline > li.version")
    expect(versions).to_have_count(3)
    expect(versions.locator(".badge")).to_have_text(["new", "update", "same story"])
    assert versions.nth(1).locator("mark.added-sentence").count() == len(update["verdict"]["added_sentences"]) > 0
    expect(versions.nth(1).locator("mark.added-sentence", has_text="Ko Min-jung")).not_to_have_count(0)
    expect(versions.nth(0).locator("mark.added-sentence")).to_have_count(0)
    expect(page.locator(".story-page .alert")).to_have_count(2)
    expect(page.locator(".story-page .alert .why").first).to_contain_text("entities")
    shoot(page, run.shots, "story")


def see_an_entity_and_filter_by_it(page: Page, run: Run) -> None:
    """From the story page to an entity's page (aliases, sparkline), then the wire filtered by it."""
    page.locator(".story-page .entity", has_text="Kim Jong Un").first.click()
    expect(page).to_have_url(f"{run.base}/wire?about=person%3Akim-jong-un")
    entity_page = page.locator(".entity-page")
    expect(entity_page.locator("h2")).to_contain_text("Kim Jong Un", timeout=30_000)
    expect(entity_page.locator(".aliases")).to_contain_text("Kim")
    expect(entity_page.locator("svg.sparkline polyline")).to_have_count(1)
    page.locator("#filter-entity").click()
    expect(page).to_have_url(f"{run.base}/wire?entity=person%3Akim-jong-un")
    expect(page.locator("#filters .chip")).to_have_count(1)
    expect(page.locator("#stories > li.story")).to_have_count(1)


def see_live_arrivals_search_and_keys(page: Page, run: Run) -> list[dict[str, Any]]:
    """A replay adds stories without a reload; search by typing, j / enter / esc, a shared link's filters."""
    page.evaluate("window.loadedOnce = true")   # gone if the page ever reloads
    wires = live_wires(12)
    run.ingest("live", wires)
    page.locator('#filters .chip[data-filter="entity"] button[aria-label="remove entity"]').click()
    expect(page.locator("#count")).to_have_text(f"{len(run.stories())} stories", timeout=WAIT_MS)
    assert page.evaluate("window.loadedOnce") is True
    shoot(page, run.shots, "wire")

    word = wires[3]["title"].split()[0].lower()
    page.keyboard.press("/")
    page.keyboard.type(word)
    expect(page).to_have_url(re.compile(r"[?&]q=" + re.escape(word)))
    shown = page.locator("#stories > li.story .headline").all_inner_texts()
    assert shown and all(word in headline.lower() for headline in shown), shown
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    expect(page.locator("#stories > li.story.selected")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator(".story-page")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#wire-view")).to_be_visible()
    page.goto(run.base + "/wire?rule=korea-summit&verdict=update")   # a shared link
    expect(page.locator("#stories > li.story")).to_have_count(1)
    expect(page.locator("#rule-filter")).to_have_value("korea-summit")
    return wires


def see_hostile_articles_as_text(page: Page, run: Run, watched: Watched) -> None:
    """Markup in titles and sources shows as text, nothing runs, javascript: and data: URLs are no links."""
    run.ingest("hostile", [HOSTILE, DATA_URL])
    tagged = run.tagged()
    page.goto(run.base + "/wire?q=mayor")
    hostile = page.locator("#stories > li.story", has_text="Mayor resigns")
    expect(hostile).to_have_count(1, timeout=WAIT_MS)
    title = tagged["hostile-1"]["article"]["title"]
    assert "<img" in title   # the markup reached the page: it must show as text
    expect(hostile.locator(".headline")).to_have_text(title)
    expect(hostile.locator(".source")).to_have_text(HOSTILE["source"])
    hostile.locator(".headline").click()
    expect(page.locator(".timeline > li.version")).to_have_count(1)
    expect(page.locator(".story-page .source")).to_have_text(HOSTILE["source"])
    page.goto(run.base + "/wire?q=harbour")
    page.locator("#stories > li.story .headline").click()
    expect(page.locator(".timeline .title")).to_have_text(tagged["hostile-2"]["article"]["title"])
    assert "<script" in tagged["hostile-2"]["article"]["title"]
    assert page.locator("a.out").count() == 0
    assert page.locator("script:not([src='/wire/static/wire.js']), iframe, svg[onload], img").count() == 0
    assert page.eval_on_selector_all("a[href]", "links => links.filter(a => !/^https?:/.test(a.href)).length") == 0
    assert watched.dialogs == [] and watched.errors == [], (watched.dialogs, watched.errors)


def kill_and_restart_the_web_worker(page: Page, run: Run, watched: Watched, web: SpawnedWorker,
                                    spawn_worker: Callable[..., SpawnedWorker]) -> None:
    """The page reconnects to the worker started again and shows what came meanwhile, nothing twice."""
    page.goto(run.base + "/wire")
    expect(page.locator("#status")).to_have_text("live", timeout=30_000)
    events_before = watched.counter("events")
    web.send_signal(signal.SIGKILL)
    web.wait()
    expect(page.locator("#status")).to_have_text("reconnecting…", timeout=30_000)
    late = restart_wires()
    run.ingest("late", late)
    run.tagged()
    spawn_worker("web", run.settings, WIREWATCH_WEB_PORT=run.base.rsplit(":", 1)[1])
    expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    for wire in late:
        expect(page.locator("#stories > li.story .headline", has_text=wire["title"])).to_have_count(1, timeout=WAIT_MS)
    keys = page.eval_on_selector_all("#alerts > li.alert", "items => items.map(item => item.dataset.key)")
    assert len(keys) == len(set(keys)) == 2
    assert watched.counter("events") >= events_before + len(late)
    assert watched.counter("repeats") == 0


def test_beyond_loopback_every_request_needs_the_token(spawn_worker: Callable[..., SpawnedWorker],
                                                       pipeline_settings: Settings) -> None:
    token = "wire-token-7f3a"
    worker = spawn_worker("web", pipeline_settings, WIREWATCH_WEB_HOST="0.0.0.0", WIREWATCH_WIRE_TOKEN=token)
    base = f"http://127.0.0.1:{worker.web_port}"
    bearer = {"Authorization": f"Bearer {token}"}
    wait_for(lambda: _status(base + "/wire/api/stories", bearer) == 200, 60, "the web worker, ready")
    for path in ("/wire/api/stories", "/wire/events", "/wire/api/alerts", "/wire", "/"):
        assert _status(base + path) in (401, 303), path
    assert _status(base + "/wire/api/stories", {"Authorization": "Bearer wrong"}) == 401
    assert _status(base + "/metrics") == 200   # the scrape holds no article data

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(base + "/wire")
        expect(page).to_have_url(base + "/wire/login")
        page.fill("#token", "not it")
        page.click("button[type=submit]")
        expect(page.locator("#token")).to_be_visible()
        page.fill("#token", token)
        page.click("button[type=submit]")
        expect(page).to_have_url(base + "/wire")
        expect(page.locator("#status")).to_have_text("live", timeout=30_000)
        assert token not in page.content()
        cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
        assert token not in cookie["value"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        browser.close()
    assert token.encode() not in Path(worker.log_path).read_bytes()


def test_the_web_stage_refuses_to_serve_beyond_loopback_without_a_token(
        spawn_worker: Callable[..., SpawnedWorker], pipeline_settings: Settings) -> None:
    worker = spawn_worker("web", pipeline_settings, WIREWATCH_WEB_HOST="0.0.0.0")
    assert worker.wait(timeout=60) != 0
    assert b"WIREWATCH_WIRE_TOKEN" in Path(worker.log_path).read_bytes()


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    """The status of a GET, a redirect not followed; 0 when nothing answers."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", parts.path, headers=headers or {})
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()
