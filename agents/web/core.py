"""The wire page's pure core: its view state, folded from the records the other stages publish.

Three mappings (Faust tables in the worker, dicts in tests) hold the state:

    stories     story id → the stories stage's state (`agents.stories.core.story_state`, the last MAX_VERSIONS
                versions), each version also with its `sentences` (the added sentences, text) and `language`;
                plus `languages` and `position`
    alerts      idempotency key → the alert as JSON, plus `position`
    entities    entity id → the registry entry (`agents.entities.core.registry_entry`)

A **position** is `[source, partition, offset]` of the message that last changed an item: source `t` (the tagged
topic) or `a` (alerts). Offsets only grow, so a client that has seen everything up to a vector of positions (one
offset per source and partition, see `agents.web.events`) is owed exactly the items whose position is past it, after
a dropped connection and after a worker restart alike (the tables come back from their changelogs, positions
included). A re-delivered message changes nothing and so is never sent twice.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import MutableMapping
from typing import Any

from agents.entities.core import registry_entry
from agents.stories.core import story_state, story_summary
from streams.records import Alert, EntitySighting, TaggedArticle

MAX_VERSIONS = 50
MAX_SENTENCES = 100         # added sentences kept per version
MAX_SENTENCE_CHARS = 600
SENTENCE_BUDGET = 200_000   # characters of added sentences per story: the oldest versions' go first, so a story's
                            # value stays far below the message limit (its changelog record)
WIRE_ENTITIES = 5           # entities a story shows on the wire

State = dict[str, Any]
Position = tuple[str, int, int]
Vector = dict[str, int]     # "t0" → the last offset of the tagged topic's partition 0 that a client has seen


def vector_key(position: Position | list[Any]) -> str:
    return f"{position[0]}{position[1]}"


def is_after(position: Position | list[Any], vector: Vector) -> bool:
    """True when the message at `position` is one that a client at `vector` has not seen."""
    return int(position[2]) > vector.get(vector_key(position), -1)


def _trim_sentences(versions: list[State]) -> None:
    """Drop the oldest versions' sentences (marking them `sentences_trimmed`) until the story fits the budget."""
    total = sum(len(s) for v in versions for s in v.get("sentences", ()))
    for index, version in enumerate(versions[:-1]):
        if total <= SENTENCE_BUDGET:
            return
        if version.get("sentences"):
            total -= sum(map(len, version["sentences"]))
            versions[index] = {**version, "sentences": [], "sentences_trimmed": True}


class Wire:
    """The page's state over three mappings, with the indexes derived from them (rebuilt by `rebuild`)."""

    def __init__(self, stories: MutableMapping[str, State], alerts: MutableMapping[str, State],
                 entities: MutableMapping[str, State]) -> None:
        self.stories, self.alerts, self.entities = stories, alerts, entities
        self.vector: Vector = {}
        self.rule_stories: dict[str, set[str]] = defaultdict(set)
        self.story_alerts: dict[str, list[str]] = defaultdict(list)

    def rebuild(self) -> None:
        """Derive the indexes and the vector from the mappings: after the tables were read back at start."""
        self.vector, self.rule_stories, self.story_alerts = {}, defaultdict(set), defaultdict(list)
        for state in self.stories.values():
            self._advance(state["position"])
        for alert in sorted(self.alerts.values(), key=lambda a: a["created_at"]):
            self._index_alert(alert)

    def add_article(self, tagged: TaggedArticle, position: Position) -> State | None:
        """Fold a tagged article into its story; returns the story's wire summary, or None for a re-delivery."""
        story_id = tagged.verdict.story_id
        previous = self.stories.get(story_id)
        state = story_state(previous, tagged, max_versions=MAX_VERSIONS)
        if previous is not None and state["counts"]["versions"] == previous["counts"]["versions"]:
            return None
        latest = state["versions"][-1] = dict(state["versions"][-1])
        latest["sentences"] = [s[:MAX_SENTENCE_CHARS] for s in tagged.verdict.added_sentences[:MAX_SENTENCES]]
        latest["language"] = tagged.article.language
        _trim_sentences(state["versions"])
        languages = list(previous["languages"]) if previous is not None else []
        if tagged.article.language and tagged.article.language not in languages:
            languages.append(tagged.article.language)
        state["languages"] = languages
        state["position"] = list(position)
        self.stories[story_id] = state
        self._advance(position)
        return self.summary(state)

    def add_alert(self, alert: Alert, position: Position) -> State | None:
        """Keep an alert; returns it as JSON, or None when its key was already kept (a re-delivery)."""
        if alert.idempotency_key in self.alerts:
            return None
        kept = {**alert.asdict(), "position": list(position)}
        kept.pop("__faust", None)
        self.alerts[alert.idempotency_key] = kept
        self._index_alert(kept)
        self._advance(position)
        return kept

    def add_sighting(self, sighting: EntitySighting) -> None:
        """Fold a sighting into the entity's registry entry, as the entities stage does."""
        previous = self.entities.get(sighting.entity_id)
        entry = registry_entry(previous, sighting)
        if entry is not previous:
            self.entities[sighting.entity_id] = entry

    def summary(self, state: State) -> State:
        """What the wire shows of a story: the stories stage's summary, its top entities, its badge and rules."""
        summary = story_summary(state)
        summary.pop("latest_version", None)
        latest = state["versions"][-1]
        summary["entities"] = [{"id": e["id"], "name": e["name"], "label": e["label"]}
                               for e in state["entities"][:WIRE_ENTITIES]]
        summary["badge"] = latest["kind"]
        summary["latest"] = {key: latest.get(key) for key in ("title", "source", "url", "published", "kind")}
        summary["rules"] = sorted({self.alerts[key]["rule_id"] for key in self.story_alerts.get(state["story_id"], [])})
        return summary

    def catch_up(self, after: Vector) -> list[tuple[list[Any], str, State]]:
        """(position, kind, payload) of every story and alert changed past `after`, in position order."""
        missed: list[tuple[list[Any], str, State]] = [
            (state["position"], "story", self.summary(state))
            for state in self.stories.values() if is_after(state["position"], after)]
        missed += [(alert["position"], "alert", alert) for alert in self.alerts.values()
                   if is_after(alert["position"], after)]
        return sorted(missed, key=lambda item: (item[0][0], item[0][1], item[0][2]))

    def _index_alert(self, alert: State) -> None:
        if alert["story_id"]:
            self.rule_stories[alert["rule_id"]].add(alert["story_id"])
            self.story_alerts[alert["story_id"]].append(alert["idempotency_key"])
        self._advance(alert["position"])

    def _advance(self, position: Position | list[Any]) -> None:
        key = vector_key(position)
        self.vector[key] = max(self.vector.get(key, -1), int(position[2]))
