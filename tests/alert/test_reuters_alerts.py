"""The Reuters alert replay's counting on a tiny hand-made story (no Reuters data, no model)."""
from __future__ import annotations

from agents.alert.core import AlertThrottle
from benchmarks.reuters_alerts import DEFINITIONS, busiest_day, replay_alerts, summary_lines
from streams.records import DedupVerdict, TaggedArticle
from tests.alert.tagged_articles import article, ruleset
from wirewatch.offline import raised_alerts


def oil_story() -> list[TaggedArticle]:
    """A story's first wire at 07:00, an update with a new number at 08:00, a copy at 09:00, another at 10:00
    (the rules here take one new fact as a development)."""
    first = article("Oil prices rose.", article_id="a1", hour=7)
    copy = TaggedArticle(article=first.article.derive(id="a3"), entities=[],
                         verdict=DedupVerdict(kind="duplicate", story_id="s1", similarity=1.0, matched_id="a1"))
    return [first, article("oil", article_id="a2", hour=8, adds="Oil rose 3%."), copy,
            article("oil", article_id="a4", hour=10, adds="Oil fell 2%.")]


def test_dedup_avoids_the_copy_and_the_cooldown_holds_the_first_update() -> None:
    replay = replay_alerts(oil_story(), ruleset("{keywords: [oil]}", extra=", cooldown: 2h, min_new_facts: 1"))
    assert sum(replay.counts("every wire new").values()) == 4  # each wire a story of its own: four new stories
    assert replay.counts("dedup") == {("r0", "new_story"): 1, ("r0", "new_development"): 2}
    assert replay.counts("fired") == {("r0", "new_story"): 1, ("r0", "new_development"): 1}
    assert (replay.avoided_by_dedup, replay.avoided_by_throttling) == (1, 1)
    [held] = replay.held(1)  # the 08:00 update, an hour after the story's alert
    assert held.new_sentences == ["Oil rose 3%."]
    assert [replay.held(n) for n in (0, 2, 3)] == [[], [], []]


def test_a_rule_without_limits_holds_nothing_back() -> None:
    replay = replay_alerts(oil_story(), ruleset("{keywords: [oil]}", extra=", min_new_facts: 1"))
    keys = [[alert.idempotency_key for alert in alerts] for alerts in replay.fired]
    assert keys == [[alert.idempotency_key for alert in alerts] for alerts in replay.deduped]
    assert replay.avoided_by_throttling == 0


def test_raised_alerts_raise_a_replayed_article_once() -> None:
    update = article("oil", article_id="a2", hour=8, adds="Oil rose 3%.")
    rules = ruleset("{keywords: [oil]}", extra=", min_new_facts: 1")
    raised = [alerts for _, alerts in raised_alerts([update, update], rules, AlertThrottle({}))]
    assert [len(alerts) for alerts in raised] == [1, 0]


def test_the_summary_gives_the_avoided_counts_with_their_definitions() -> None:
    rules = ruleset("{keywords: [oil]}", extra=", cooldown: 2h, min_new_facts: 1")
    lines = summary_lines(replay_alerts(oil_story(), rules), rules, wires=4)
    assert "verdicts: new 1, duplicate 1, update 2, same_story 0" in lines
    assert "alerts avoided by dedup: 1" in lines and "alerts avoided by throttling: 1" in lines
    assert all(definition in lines for definition in DEFINITIONS)


def test_the_busiest_day_is_the_earliest_of_a_tie() -> None:
    dates = ["1987-04-09T10:00:00", "1987-04-07T09:00:00", "1987-04-09T11:00:00", "1987-04-07T23:59:59",
             "1987-03-02T08:00:00"]
    assert busiest_day([{"date": d} for d in dates]) == "1987-04-07"
