"""The wire page's pure parts: the view state folded from records, its queries, the event ids that make a
reconnect exact, and the guards (token, headers, shipped files)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from agents.entities.core import sightings
from agents.web.core import Wire
from agents.web.events import BadVector, WireEvents, format_vector, parse_vector
from agents.web.http import static_files
from agents.web.query import BadQuery, Filters, alerts_page, entity_page, listing, page_numbers, story_page
from agents.web.security import CONTENT_SECURITY_POLICY, check_exposure, is_loopback, session_value
from streams.records import Alert, CleanArticle, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import Settings

START = datetime(2019, 6, 30, 7, 0, tzinfo=UTC)


def tagged(article_id: str, story: str, kind: str = "new", *, title: str = "Summit at the DMZ", minutes: int = 0,
           added: tuple[str, ...] = (), source: str = "Wire", language: str = "en",
           names: tuple[tuple[str, str], ...] = (("Kim Jong Un", "PERSON"),)) -> TaggedArticle:
    full_title = title
    mentions = [EntityMention(start=0, end=len(name), text=name, label=label, canonical=name) for name, label in names]
    article = CleanArticle(id=article_id, title=full_title, paragraphs=["Text."], source=source, language=language,
                           published=START + timedelta(minutes=minutes), ingested_at=1e9 + minutes,
                           url="https://example.com/" + article_id)
    verdict = DedupVerdict(kind=kind, story_id=story, added_sentences=list(added))
    return TaggedArticle(article=article, verdict=verdict, entities=mentions)


def alert(key: str, story: str, rule: str = "korea-summit", created: float = 1.0) -> Alert:
    return Alert(idempotency_key=key, rule_id=rule, description="", trigger="new_story", story_id=story,
                 article_id=story, title="Summit", created_at=created, matched_entities=["Kim Jong Un"])


def seeded() -> tuple[Wire, dict[str, Any], dict[str, Any], dict[str, Any]]:
    stories: dict[str, Any] = {}
    alerts: dict[str, Any] = {}
    entities: dict[str, Any] = {}
    wire = Wire(stories, alerts, entities)
    wire.add_article(tagged("a1", "s1"), ("t", 0, 0))
    wire.add_article(tagged("a2", "s1", "update", minutes=5, added=("Ko Min-jung spoke.",)), ("t", 0, 1))
    wire.add_article(tagged("b1", "s2", title="Rain in Lisbon", minutes=3, source="Other", language="pt",
                            names=(("Lisbon", "GPE"),)), ("t", 1, 0))
    wire.add_alert(alert("k1", "s1"), ("a", 2, 0))
    return wire, stories, alerts, entities


def test_a_story_keeps_each_versions_added_sentences_and_a_badge_of_its_latest_verdict() -> None:
    wire, stories, _, _ = seeded()
    page = story_page(wire, "s1")
    assert page is not None
    assert [v["kind"] for v in page["versions"]] == ["new", "update"]
    assert page["versions"][1]["sentences"] == ["Ko Min-jung spoke."] and page["versions"][0]["sentences"] == []
    assert [a["idempotency_key"] for a in page["alerts"]] == ["k1"]
    summary = wire.summary(stories["s1"])
    assert (summary["badge"], summary["rules"], summary["counts"]["versions"]) == ("update", ["korea-summit"], 2)
    assert "versions" not in summary and summary["entities"][0]["id"] == "person:kim-jong-un"


def test_a_redelivered_message_changes_nothing_and_is_not_published() -> None:
    wire, stories, _, _ = seeded()
    before = orjson.dumps(stories)
    assert wire.add_article(tagged("a2", "s1", "update", minutes=5), ("t", 0, 1)) is None
    assert wire.add_alert(alert("k1", "s1"), ("a", 2, 0)) is None
    assert orjson.dumps(stories) == before


def test_the_listing_is_newest_first_and_every_filter_narrows_it() -> None:
    wire, _, _, _ = seeded()
    assert [s["story_id"] for s in listing(wire, Filters())["stories"]] == ["s1", "s2"]
    for filters, expected in [(Filters(entity="gpe:lisbon"), ["s2"]), (Filters(rule="korea-summit"), ["s1"]),
                              (Filters(rule="nothing"), []), (Filters(source="other"), ["s2"]),
                              (Filters(language="pt"), ["s2"]), (Filters(verdict="update"), ["s1"]),
                              (Filters(q="lisbon RAIN"), ["s2"]), (Filters(q="rain summit"), [])]:
        assert [s["story_id"] for s in listing(wire, filters)["stories"]] == expected, filters
    page = listing(wire, Filters(), offset=1, limit=1)
    assert (page["total"], [s["story_id"] for s in page["stories"]]) == (2, ["s2"])
    assert page_numbers({"offset": "50", "limit": "50"}) == (50, 50)
    for bad in ({"limit": "0"}, {"offset": "-1"}, {"limit": "100000"}):
        with pytest.raises(BadQuery):
            page_numbers(bad)


def test_the_entity_page_has_the_registry_entry_and_the_stories() -> None:
    wire, _, _, _ = seeded()
    assert entity_page(wire, "person:nobody") is None
    known_from_stories = entity_page(wire, "person:kim-jong-un")
    assert known_from_stories is not None and known_from_stories["aliases"] == []
    for sighting in sightings(tagged("a1", "s1")) + sightings(tagged("a2", "s1", "update", minutes=5)):
        wire.add_sighting(sighting)
    page = entity_page(wire, "person:kim-jong-un")
    assert page is not None
    assert (page["aliases"], page["days"], page["mentions"]) == (["Kim Jong Un"], {"2019-06-30": 2}, 2)
    assert [s["story_id"] for s in page["stories"]] == ["s1"] and "recent_articles" not in page
    assert alerts_page(wire)["rules"] == [{"id": "korea-summit", "count": 1}]
    assert alerts_page(wire, rule="other")["alerts"] == []


def test_a_reconnecting_client_gets_what_it_missed_once_and_nothing_it_had() -> None:
    wire, _, _, _ = seeded()
    events = WireEvents(wire)
    assert wire.vector == {"t0": 1, "t1": 0, "a2": 0}
    client = events.subscribe(parse_vector("t0=0"))
    kinds = [frame.split(b"\n")[1] for frame in client.subscription.backlog]
    assert kinds == [b"event: alert", b"event: story", b"event: story"]  # a2, then t0 past offset 0, then t1
    last_id = client.subscription.backlog[-1].split(b"\n")[0].removeprefix(b"id: ").decode()
    assert parse_vector(last_id) == {"t0": 1, "t1": 0, "a2": 0}
    events.publish(["t", 0, 1], "story", {})           # a re-delivery it has seen
    assert client.subscription.queue.empty()
    wire.add_article(tagged("a3", "s1", "same_story", minutes=9), ("t", 0, 2))
    events.publish(["t", 0, 2], "story", {"story_id": "s1"})
    assert client.subscription.queue.qsize() == 1
    again = events.subscribe(parse_vector(last_id))   # the connection dropped after the backlog: only the new one
    assert [b"t0=2" in frame for frame in again.subscription.backlog] == [True]


def test_after_a_restart_the_rebuilt_state_continues_the_same_ids() -> None:
    _, stories, alerts, entities = seeded()
    restarted = Wire(stories, alerts, entities)   # the tables as read back from their changelogs
    restarted.rebuild()
    assert restarted.vector == {"t0": 1, "t1": 0, "a2": 0}
    assert restarted.rule_stories["korea-summit"] == {"s1"}
    assert WireEvents(restarted).subscribe(restarted.vector).subscription.backlog == []
    assert [kind for _, kind, _ in restarted.catch_up(parse_vector("t0=1,t1=0"))] == ["alert"]


def test_event_ids_round_trip_and_junk_is_refused() -> None:
    assert parse_vector(format_vector({"t0": 5, "a3": 0})) == {"t0": 5, "a3": 0}
    assert parse_vector("") == {} and parse_vector(None) == {}
    for junk in ["x0=1", "t0=-1", "t0", "t=1", "t0=1;a1=2", "t0=1\nid: x"]:
        with pytest.raises(BadVector):
            parse_vector(junk)


def test_the_page_is_refused_beyond_loopback_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.3.0.9")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")
    check_exposure(Settings())
    with pytest.raises(ValueError, match="WIREWATCH_WIRE_TOKEN"):
        check_exposure(Settings(web_host="0.0.0.0"))
    check_exposure(Settings(web_host="0.0.0.0", wire_token="s3cret"))
    assert "s3cret" not in session_value("s3cret") and session_value("a") != session_value("b")
    assert Settings(wire_token="s3cret").redacted()["wire_token"] == "***"


def test_the_shipped_page_runs_no_inline_code_and_never_parses_article_data_as_markup() -> None:
    files = static_files()
    assert set(files) == {"index.html", "login.html", "wire.css", "wire.js", "favicon.svg"}
    for name in ("index.html", "login.html"):
        html = files[name][0].decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
        assert "<style" not in html and " style=" not in html and not re.search(r"\bon[a-z]+=", html)
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing external
    script = files["wire.js"][0].decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script.split("\n", 2)[2], sink   # the header comment names innerHTML
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_a_long_running_story_keeps_its_newest_sentences_within_the_budget() -> None:
    wire = Wire({}, {}, {})
    long_sentences = tuple(f"Sentence {n} " + "x" * 580 for n in range(100))
    for n in range(8):
        wire.add_article(tagged(f"a{n}", "s1", "update", minutes=n, added=long_sentences), ("t", 0, n))
    versions = wire.stories["s1"]["versions"]
    assert sum(len(s) for v in versions for s in v["sentences"]) <= 200_000
    assert versions[-1]["sentences"] and versions[0]["sentences_trimmed"] and versions[0]["sentences"] == []
    assert len(orjson.dumps(wire.stories["s1"])) < 300_000
