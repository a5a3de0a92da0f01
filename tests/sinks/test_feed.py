"""The live feed's order: a story's alert is printed after the article it is about, whichever topic was read first."""
from __future__ import annotations

from agents.sinks.feed import AlertsAfterArticles
from streams.records import Alert, CleanArticle, DedupVerdict, TaggedArticle
from tests.conftest import stage_app


def alert(article_id: str, rule: str = "korea-summit") -> Alert:
    return Alert(idempotency_key=f"{rule}:{article_id}", rule_id=rule, description="", trigger="new_development",
                 story_id="s1", article_id=article_id, title="t")


def test_an_alert_before_its_article_waits_for_the_article_line() -> None:
    order = AlertsAfterArticles()
    early = alert("update-1")
    assert order.alert_arrived(early, now=0.0) == []
    assert order.article_shown("new-1") == []
    assert order.article_shown("update-1") == [early]
    assert order.overdue(now=60.0) == []  # released once only


def test_an_alert_after_its_article_and_a_digest_are_shown_at_once() -> None:
    order = AlertsAfterArticles()
    order.article_shown("new-1")
    late = alert("new-1")
    assert order.alert_arrived(late, now=0.0) == [late]
    digest = alert("")
    assert order.alert_arrived(digest, now=0.0) == [digest]


def test_an_alert_whose_article_never_comes_is_shown_after_the_hold() -> None:
    order = AlertsAfterArticles(hold_seconds=10.0)
    first, second = alert("gone-1"), alert("gone-2")
    order.alert_arrived(first, now=0.0)
    order.alert_arrived(second, now=5.0)
    assert order.overdue(now=9.0) == []
    assert order.overdue(now=10.0) == [first]
    assert order.overdue(now=15.0) == [second]


def test_the_feed_remembers_a_bounded_number_of_articles() -> None:
    order = AlertsAfterArticles(remembered=2)
    for article_id in ("a", "b", "c"):
        order.article_shown(article_id)
    assert order.alert_arrived(alert("a"), now=0.0) == []  # forgotten: it waits (and is shown after the hold)
    assert order.alert_arrived(alert("c"), now=0.0) != []


async def test_the_feed_prints_an_alert_that_came_first_after_its_article(capsys) -> None:
    app, _, _ = stage_app("feed")
    article = CleanArticle(id="update-1", title="Kim and Moon meet at the border", paragraphs=["They met."])
    tagged = TaggedArticle(article=article, verdict=DedupVerdict(kind="update", story_id="s1", matched_id="new-1"))
    async with app.agents["feed-alerts"].test_context() as alerts, \
            app.agents["feed-articles"].test_context() as articles:
        await alerts.put(alert("update-1").dumps())
        assert capsys.readouterr().out == ""
        await articles.put(tagged.dumps())
    printed = capsys.readouterr().out
    assert "Kim and Moon meet at the border" in printed and "korea-summit" in printed
    assert printed.index("Kim and Moon meet at the border") < printed.index("korea-summit")
