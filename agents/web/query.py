"""What the wire page asks of the state: a filtered, paged listing of stories, one story, one entity, the alerts.

Filters are the page's URL parameters (shareable links): `entity` (an entity id among a story's top entities),
`rule` (a rule that raised an alert on the story), `source`, `language`, `verdict` (a story with a version of that
kind), and `q`, words that must all be in the headline (case-insensitive).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.web.core import State, Wire

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ENTITY_STORIES = 50
ALERTS_SHOWN = 200
FILTERS = ("entity", "rule", "source", "language", "verdict", "q")


class BadQuery(ValueError):
    """A parameter that cannot be used: 400 with the message."""


@dataclass(frozen=True)
class Filters:
    """The wire's filters; empty strings filter nothing."""

    entity: str = ""
    rule: str = ""
    source: str = ""
    language: str = ""
    verdict: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        return cls(**{name: query.get(name, "").strip() for name in FILTERS})

    def keeps(self, state: State, rule_stories: set[str] | None) -> bool:
        """True when the story passes every filter; `rule_stories` are the stories of the `rule` filter."""
        if rule_stories is not None and state["story_id"] not in rule_stories:
            return False
        if self.entity and all(e["id"] != self.entity for e in state["entities"]):
            return False
        if self.source and self.source.casefold() not in {s.casefold() for s in state["sources"]}:
            return False
        if self.language and self.language not in state["languages"]:
            return False
        if self.verdict and not state["counts"].get(self.verdict):
            return False
        headline = state["headline"].casefold()
        return all(word in headline for word in self.q.casefold().split())


def listing(wire: Wire, filters: Filters, offset: int = 0, limit: int = PAGE_SIZE) -> State:
    """The page of stories at `offset`, newest update first (ties by story id), with the total that pass."""
    rule_stories = wire.rule_stories.get(filters.rule, set()) if filters.rule else None
    kept = [state for state in wire.stories.values() if filters.keeps(state, rule_stories)]
    kept.sort(key=lambda s: (s["last_update"] or "", s["story_id"]), reverse=True)
    return {"total": len(kept), "offset": offset, "limit": limit, "vector": dict(wire.vector),
            "stories": [wire.summary(state) for state in kept[offset:offset + limit]]}


def story_page(wire: Wire, story_id: str) -> State | None:
    """A story with every kept version (its added sentences included) and the alerts it raised, oldest first."""
    state = wire.stories.get(story_id)
    if state is None:
        return None
    alerts = sorted((wire.alerts[key] for key in wire.story_alerts.get(story_id, [])), key=lambda a: a["created_at"])
    return {**state, "alerts": alerts}


def entity_page(wire: Wire, entity_id: str) -> State | None:
    """An entity's registry entry (aliases, first and last seen, mentions per day) and its latest stories; None
    when neither the registry nor any story knows it."""
    entry = wire.entities.get(entity_id)
    stories = [s for s in wire.stories.values() if any(e["id"] == entity_id for e in s["entities"])]
    if entry is None and not stories:
        return None
    stories.sort(key=lambda s: (s["last_update"] or "", s["story_id"]), reverse=True)
    shown = {key: value for key, value in (entry or {"id": entity_id}).items() if key != "recent_articles"}
    if entry is None:  # known from stories only: the entities stage has not (yet) folded it
        named = next(e for e in stories[0]["entities"] if e["id"] == entity_id)
        shown.update(name=named["name"], label=named["label"], aliases=[], days={})
    return {**shown, "stories": [wire.summary(s) for s in stories[:ENTITY_STORIES]]}


def alerts_page(wire: Wire, rule: str = "", limit: int = ALERTS_SHOWN) -> State:
    """The newest alerts (of `rule`, when given) and every rule with its count, for the alerts column's filter."""
    counts: dict[str, int] = {}
    for alert in wire.alerts.values():
        counts[alert["rule_id"]] = counts.get(alert["rule_id"], 0) + 1
    chosen = [a for a in wire.alerts.values() if not rule or a["rule_id"] == rule]
    chosen.sort(key=lambda a: (a["created_at"], a["idempotency_key"]), reverse=True)
    return {"alerts": chosen[:limit], "rules": [{"id": r, "count": n} for r, n in sorted(counts.items())],
            "vector": dict(wire.vector)}


def page_numbers(query: Mapping[str, str]) -> tuple[int, int]:
    """(offset, limit) from the query, checked."""
    numbers = []
    for name, default, top in (("offset", 0, 10**9), ("limit", PAGE_SIZE, MAX_PAGE_SIZE)):
        text = query.get(name, str(default))
        if not text.isdigit() or int(text) > top or (name == "limit" and int(text) == 0):
            raise BadQuery(f"`{name}` must be a whole number up to {top}, not {text!r}")
        numbers.append(int(text))
    return numbers[0], numbers[1]

