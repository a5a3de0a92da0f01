"""Live-feed lines for articles and alerts of the seed story."""
from __future__ import annotations

import pytest

from agents.sinks.console import format_alert, format_article
from streams.records import Alert, CleanArticle, DedupedArticle, DedupVerdict, EntityMention, TaggedArticle

TITLE = "Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend"
STORY = "3f2a9c1b7e4d5a60"
ADDED = [
    "North Korean foreign ministry official Choe Son Hui said Trump’s invitation was “a very interesting suggestion, "
    "but we have not received an official proposal in this regard,” according to the state-run Korean Central "
    "News Agency.",
    "As he arrived in Seoul a few hours later, Trump told reporters he had heard back from North Korea.",
    "The United Nations forces and North Korean military are discussing details of a possible Trump-Kim meeting.",
    "Trump said he thought of sending the tweet inviting Kim to meet him at the border on Saturday.",
    "Trump is scheduled to visit Seoul on Saturday for an overnight stay.",
]


def mention(text: str, canonical: str, label: str) -> EntityMention:
    start = TITLE.find(text)
    return EntityMention(start=start, end=start + len(text), text=text, label=label, canonical=canonical)


def tagged(kind: str, source: str = "Bloomberg", added: list[str] | None = None,
           title: str = TITLE) -> TaggedArticle:
    article = CleanArticle(id="bloomberg-v2", title=title, paragraphs=["(Bloomberg) — ..."], source=source)
    verdict = DedupVerdict(kind=kind, story_id=STORY, matched_id="b9f6a1b681eeff1d", added_sentences=added or [])
    entities = [mention("Trump", "Donald Trump", "PERSON"), mention("Kim Jong Un", "Kim Jong Un", "PERSON"),
                mention("DMZ", "DMZ", "LOC"), mention("Trump", "Donald Trump", "PERSON")]
    return TaggedArticle(article=article, verdict=verdict, entities=entities)


def test_a_new_story_shows_title_source_and_top_entities() -> None:
    heading, entities = format_article(tagged("new")).splitlines()
    assert heading.startswith("NEW STORY ")
    assert f"[story 3f2a9c1b…] {TITLE} — Bloomberg" in heading
    assert entities.strip() == "entities: Donald Trump (PERSON ×2), Kim Jong Un (PERSON ×1), DMZ (LOC ×1)"


def test_an_update_lists_at_most_three_added_sentences_truncated() -> None:
    lines = format_article(tagged("update", added=ADDED)).splitlines()
    assert lines[0].startswith("UPDATE ")
    added = [line.strip() for line in lines if line.strip().startswith("+ ")]
    assert len(added) == 3
    assert added[0].endswith("…") and len(added[0]) < len(ADDED[0])
    assert added[1] == "+ " + ADDED[1]
    assert lines[-1].strip() == "(+2 more)"


def test_same_story_names_the_other_outlet() -> None:
    text = format_article(tagged("same_story", source="Reuters", added=ADDED[:1]))
    assert text.startswith("SAME STORY") and "— Reuters" in text.splitlines()[0]


def test_a_duplicate_is_one_line() -> None:
    text = format_article(tagged("duplicate"))
    assert text == f"DUPLICATE of b9f6a1b6…  {TITLE} — Bloomberg"


def test_an_untagged_deduped_article_has_no_entity_line() -> None:
    item = tagged("new")
    text = format_article(DedupedArticle(article=item.article, verdict=item.verdict))
    assert "entities" not in text and text.startswith("NEW STORY")


def test_colour_only_when_asked_and_article_text_cannot_inject_escapes() -> None:
    hostile = tagged("new", title="Trump \x1b[2J\x1b[31mInvites\nKim")
    plain = format_article(hostile)
    assert "\x1b" not in plain and "Trump [2J [31mInvites Kim" in plain
    coloured = format_article(hostile, colour=True)
    assert coloured.startswith("\x1b[1;32mNEW STORY") and coloured.count("\x1b") == 2


@pytest.fixture
def alert() -> Alert:
    return Alert(idempotency_key="k" * 64, rule_id="korea-summit", description="Kim Jong Un or North Korea in the news",
                 trigger="new_development", story_id=STORY, article_id="bloomberg-v2", title=TITLE,
                 source="Bloomberg", url="https://news.example/bloomberg-v2", verdict="update",
                 matched_entities=["Kim Jong Un", "North Korea"], matched_keywords=["DMZ"], new_sentences=ADDED[1:3])


def test_an_alert_says_which_rule_why_and_what_is_new(alert: Alert) -> None:
    lines = [line.strip() for line in format_alert(alert).splitlines()]
    assert lines[0] == f"ALERT korea-summit (new_development) [story 3f2a9c1b…] {TITLE} — Bloomberg"
    assert lines[1] == "Kim Jong Un or North Korea in the news"
    assert lines[2] == "entities: Kim Jong Un, North Korea · keywords: DMZ"
    assert lines[3:5] == ["+ " + s for s in ADDED[1:3]]
    assert lines[5] == "https://news.example/bloomberg-v2"
    assert format_alert(alert, colour=True).startswith("\x1b[1;31mALERT korea-summit")
