"""The alert stage's pure core: which rules fire on a tagged article, and whether an alert was already raised."""
from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, MutableMapping
from typing import Any

from agents.alert.facts import StoryFacts
from agents.rules.conditions import ArticleView
from agents.rules.ruleset import Rule, RuleSet
from streams.records import Alert, EntitySignal, TaggedArticle


def alerts_for(article: TaggedArticle, rules: RuleSet, stories: StoryFacts, *, now: float) -> list[Alert]:
    """The alerts `rules` raise on `article`: new stories, and developments that add facts; never duplicates.

    Every article goes through `stories` (what its story already told), whether or not a rule matches it.
    """
    verdict = article.verdict
    view = ArticleView(article)
    development = stories.development(article, view.positions.keys())
    if verdict.kind == "new":
        trigger, key, facts = "new_story", "new_story", 0
    elif development.facts:
        trigger, key, facts = "new_development", development_key(development.sentences), len(development.facts)
    else:
        return []
    links = stories.earlier_links(verdict.story_id, article.article.url)
    alerts: list[Alert] = []
    for rule in rules.candidates(view):
        if trigger not in rule.triggers or facts < (rule.min_new_facts if trigger == "new_development" else 0):
            continue
        match = rule.match(view)
        if match is None:
            continue
        alerts.append(Alert(
            idempotency_key=idempotency_key(rule.id, verdict.story_id, key),
            rule_id=rule.id,
            description=rule.description,
            trigger=trigger,
            story_id=verdict.story_id,
            article_id=article.article.id,
            title=article.article.title,
            source=article.article.source,
            url=article.article.url,
            verdict=verdict.kind,
            matched_entities=list(match.matched_entities),
            matched_keywords=list(match.matched_keywords),
            new_sentences=list(development.sentences),
            new_facts=[str(fact) for fact in development.facts],
            story_links=links,
            detail=development.summary() if facts else "",
            created_at=now,
            ingested_at=article.article.ingested_at,
        ))
    return alerts


def signal_alert(signal: EntitySignal, rule: Rule, *, now: float) -> Alert:
    """The alert of a cross-story trigger the entities stage found (`surge`, `first_co_mention`)."""
    return Alert(
        idempotency_key=idempotency_key(rule.id, signal.story_id, signal.development),
        rule_id=rule.id, description=rule.description, trigger=signal.trigger, story_id=signal.story_id,
        article_id=signal.article_id, title=signal.title, source=signal.source, url=signal.url, verdict="",
        matched_entities=list(signal.entities), detail=signal.detail, created_at=now)


def development_key(sentences: Iterable[str]) -> str:
    """A hash of the sorted, normalised sentences: the same facts give the same key whatever their order."""
    normalised = sorted({_normalise(s) for s in sentences})
    return hashlib.sha256("\n".join(normalised).encode("utf-8")).hexdigest()


def idempotency_key(rule_id: str, story_id: str, development: str) -> str:
    """sha256 of rule | story | development: a replay of the same article gives the same key."""
    return hashlib.sha256(f"{rule_id}|{story_id}|{development}".encode("utf-8")).hexdigest()


class AlertLedger:
    """Which sinks each alert has reached: at-least-once per sink, and never again once a sink has it.

    `marks` maps "{idempotency key}:{sink}" → {"attempted": time, "delivered": time or None}; in production the alert
    agent's Faust table (changelogged, so it survives restarts and rebalances), in tests a dict. The attempt is
    written before the sink is tried and the delivery once it accepted, so after a crash mid-delivery the replay
    knows it is a redelivery (same idempotency key, for the receiver to drop a repeat); a replay after delivery
    sends nothing.
    """

    def __init__(self, marks: MutableMapping[str, dict[str, float | None]]) -> None:
        self.marks = marks

    def pending(self, alert: Alert, sinks: Iterable[str]) -> list[str]:
        """The sinks among `sinks` that do not have `alert` yet."""
        return [sink for sink in sinks if not (self.marks.get(f"{alert.idempotency_key}:{sink}") or {}).get("delivered")]

    def attempting(self, alert: Alert, sink: str, at: float) -> bool:
        """Record that `sink` is about to be tried with `alert`; True when an earlier attempt was interrupted."""
        key = f"{alert.idempotency_key}:{sink}"
        interrupted = key in self.marks
        self.marks[key] = {"attempted": at, "delivered": None}
        return interrupted

    def mark_delivered(self, alert: Alert, sink: str, at: float) -> None:
        """Record that `sink` has `alert` (or, for a sink that gave up, that the dead-letter topic has it)."""
        key = f"{alert.idempotency_key}:{sink}"
        self.marks[key] = {"attempted": (self.marks.get(key) or {}).get("attempted", at), "delivered": at}


class AlertThrottle:
    """Each rule's cooldown and throttle, per story, over article time (publish, else ingest): replays behave as live.

    `raised` maps "{rule id}:{story id}" → [[article time, idempotency key], …] of the story's admitted alerts, the
    newest last; in production the alert agent's Faust table. An alert is recorded *before* delivery, and its own
    entry never holds it back, so a replay after a crash admits it again and the ledger sends what a sink lacks.
    """

    def __init__(self, raised: MutableMapping[str, list[list[Any]]]) -> None:
        self.raised = raised

    def admit(self, alert: Alert, rule: Rule, at: float) -> bool:
        """True (and recorded) when `rule` allows `alert` at `at`; False when its cooldown or throttle holds it."""
        if not rule.cooldown and rule.throttle is None:
            return True
        key = f"{rule.id}:{alert.story_id}"
        earlier = [entry for entry in self.raised.get(key, []) if entry[1] != alert.idempotency_key]
        if len(earlier) < len(self.raised.get(key, [])):
            return True  # admitted before: a replay
        if rule.cooldown and earlier and at - earlier[-1][0] < rule.cooldown:
            return False
        if rule.throttle is not None:
            most, window = rule.throttle
            if sum(1 for time, _ in earlier if at - time < window) >= most:
                return False
        keep = max(rule.throttle[0] if rule.throttle else 1, 1)
        self.raised[key] = (earlier + [[at, alert.idempotency_key]])[-keep:]
        return True


def _normalise(sentence: str) -> str:
    text = unicodedata.normalize("NFKC", sentence).casefold()
    text = text.translate(str.maketrans({"“": '"', "”": '"', "’": "'", "‘": "'"}))
    return " ".join(text.split())
