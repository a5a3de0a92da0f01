"""What a story already told, in the cases mutation testing found unchecked: each fact's kind, a quotation half of
whose words the story has, a duplicate leaving the story as it was, forgetting, which stories are stale."""
from __future__ import annotations

import copy
from typing import Any

from agents.alert.facts import Fact, StoryFacts, stale_stories
from tests.alert.tagged_articles import article


def test_each_new_fact_says_what_kind_of_fact_it_is() -> None:
    stories = StoryFacts({})
    stories.development(article("Acme makes widgets."))
    added = 'Zeta Bank lent 400 million, "a vote of confidence in our widgets," the chief said.'
    update = article(f"Acme makes widgets. {added}", names={"Zeta Bank": "Zeta Bank"}, article_id="a2", adds=added)
    development = stories.development(update)
    assert development.facts == (Fact("number", "400"), Fact("entity", "Zeta Bank"),
                                 Fact("quote", "a vote of confidence in our widgets,"))
    assert development.sentences == (added,)


def test_a_quotation_half_of_whose_words_the_story_has_is_new() -> None:
    stories = StoryFacts({})
    stories.development(article("Acme praised alpha and beta."))
    half_known = 'He said "alpha beta gamma delta" twice.'  # four content words, two of them told
    update = article(f"Acme praised alpha and beta. {half_known}", article_id="a2", adds=half_known)
    assert stories.development(update).facts == (Fact("quote", "alpha beta gamma delta"),)
    more_known = 'He said "alpha beta gamma acme" again.'  # three of four told: a re-wording
    again = article(f"Acme praised alpha and beta. {more_known}", article_id="a3", adds=more_known)
    assert stories.development(again).facts == ()


def test_a_duplicate_adds_nothing_and_leaves_the_story_as_it_was() -> None:
    stories = StoryFacts({})
    stories.development(article("Acme makes widgets."))
    before = copy.deepcopy(stories.stories)
    duplicate = article("Acme makes widgets for 12 banks.", article_id="a2")
    duplicate = duplicate.derive(verdict=duplicate.verdict.derive(kind="duplicate"))
    assert stories.development(duplicate).facts == ()
    assert stories.stories == before


def test_forgetting_a_story_that_is_not_there_is_harmless() -> None:
    stories = StoryFacts({"s1": {"entities": []}})
    stories.forget("s2")  # the sweep may name a story another worker's partition moved away
    stories.forget("s1")
    assert stories.stories == {}


def test_a_story_is_stale_only_once_its_last_article_is_older_than_the_retention() -> None:
    entries: list[tuple[str, dict[str, Any]]] = [
        ("old", {"seen": 0.0}), ("at-the-line", {"seen": 10.0}), ("recent", {"seen": 50.0}),
        ("unknown-age", {"entities": []}), ("gone", {})]
    assert stale_stories(entries, newest=100.0, retention=90.0) == ["old"]
