"""The stories stage's pure core: fold tagged articles into one JSON state per story, and list recent stories.

A state is a plain JSON-serialisable dict (the value of the `stories` table and the body of `GET /stories/{id}`):

    story_id, headline, first_seen, last_update        times ISO 8601 UTC, to the second ("…Z")
    versions        the last MAX_VERSIONS articles in arrival order: id, kind, source, title, published, url
                    (when known), added_sentences (a count), ingested_at (unix seconds; with id, the delivery)
    sources         distinct outlets in first-seen order (the first MAX_SOURCES)
    entities        the top TOP_ENTITIES entities by salience (mentions weighted: headline 3, lead 2, other 1;
                    see `agents.entities.core`): id, name, label, salience, mentions, articles (over all versions)
    counts          versions (all, also those no longer listed), one count per verdict kind, added_sentences
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from agents.entities.core import sightings
from streams.records import VERDICT_KINDS, TaggedArticle
from streams.times import article_time, format_time

SCHEMA_VERSION = 1
MAX_VERSIONS = 200      # a story's state stays small however long it runs; `counts.versions` keeps the total
MAX_SOURCES = 100
TOP_ENTITIES = 20

State = dict[str, Any]


def story_state(previous: State | None, tagged: TaggedArticle, *, max_versions: int = MAX_VERSIONS,
                top_entities: int = TOP_ENTITIES) -> State:
    """The story's state after `tagged`, as a new dict; a re-delivered article (same id, ingest time) changes nothing.

    `previous` is never changed; the new state shares its version entries, which nothing changes once made.

    The headline is the title of the story's first article (the one whose id is the story id): the story as it
    broke, stable while versions come in (each version keeps its own title). Until that article is seen, the first
    non-empty title stands in.
    """
    article, verdict = tagged.article, tagged.verdict
    if previous is not None and _is_delivered(previous, article.id, article.ingested_at):
        return _copy(previous)
    state = _copy(previous) if previous is not None else _empty(verdict.story_id)
    title = article.title.strip()
    if title and (article.id == verdict.story_id or not state["headline"]):
        state["headline"] = title
    seen = format_time(article_time(tagged.article))
    state["first_seen"] = min(filter(None, [state["first_seen"], seen]))
    state["last_update"] = max(filter(None, [state["last_update"], seen]))
    state["versions"] = (state["versions"] + [_version(tagged)])[-max_versions:]
    if article.source and article.source.strip():
        _add_source(state["sources"], article.source.strip())
    state["entities"] = _merged_entities(state["entities"], tagged, top_entities)
    counts = state["counts"]
    counts["versions"] += 1
    counts[verdict.kind] = counts.get(verdict.kind, 0) + 1
    counts["added_sentences"] += len(verdict.added_sentences)
    return state


def story_summary(state: State) -> State:
    """A state without its versions list, plus the latest version: what a listing shows for each story."""
    summary = {key: value for key, value in state.items() if key != "versions"}
    summary["latest_version"] = state["versions"][-1] if state["versions"] else None
    return summary


def stories_since(mapping: Mapping[str, State], since: datetime, limit: int,
                  where: Callable[[str], bool] | None = None) -> list[State]:
    """Summaries of the stories updated at or after `since` (to the second), newest first, at most `limit`.

    `where` filters story ids after the time filter (a worker keeps only the partitions it owns).
    """
    cutoff = format_time(since)
    found = [state for story_id, state in mapping.items()
             if state["last_update"] >= cutoff and (where is None or where(story_id))]
    return newest_first((story_summary(state) for state in found), limit)


def newest_first(summaries: Iterable[State], limit: int) -> list[State]:
    """Summaries ordered by last update, newest first (ties by story id), cut to `limit`: merges listings too."""
    return sorted(summaries, key=lambda s: (s["last_update"], s["story_id"]), reverse=True)[:limit]


def _empty(story_id: str) -> State:
    return {
        "schema_version": SCHEMA_VERSION,
        "story_id": story_id,
        "headline": "",
        "first_seen": None,
        "last_update": None,
        "versions": [],
        "sources": [],
        "entities": [],
        "counts": {"versions": 0, **dict.fromkeys(VERDICT_KINDS, 0), "added_sentences": 0},
    }


def _copy(state: State) -> State:
    """A copy of `state` whose containers can be changed without touching `state` (version entries are shared)."""
    return {**state, "versions": list(state["versions"]), "sources": list(state["sources"]),
            "entities": [dict(e) for e in state["entities"]], "counts": dict(state["counts"])}


def _is_delivered(state: State, article_id: str, ingested_at: float) -> bool:
    # Only the listed versions are checked: a replay reaches back a few messages, not MAX_VERSIONS of one story.
    return any(v["id"] == article_id and v["ingested_at"] == ingested_at for v in state["versions"])


def _version(tagged: TaggedArticle) -> dict[str, Any]:
    article, verdict = tagged.article, tagged.verdict
    version: dict[str, Any] = {
        "id": article.id,
        "kind": verdict.kind,
        "source": article.source,
        "title": article.title,
        "published": format_time(article.published) if article.published is not None else None,
    }
    if article.url:
        version["url"] = article.url
    version["added_sentences"] = len(verdict.added_sentences)
    version["ingested_at"] = article.ingested_at
    return version


def _add_source(sources: list[str], source: str) -> None:
    if len(sources) < MAX_SOURCES and source.casefold() not in {s.casefold() for s in sources}:
        sources.append(source)


def _merged_entities(kept: list[dict[str, Any]], tagged: TaggedArticle, top: int) -> list[dict[str, Any]]:
    """The kept top entities plus this article's, re-ranked by salience and cut to `top`.

    Sums are exact for entities that stay in the top; one that drops out and comes back counts from then on.
    """
    tally = {(e["name"], e["label"]): {"salience": 0.0, **e} for e in kept}
    for sighting in sightings(tagged):
        entry = tally.setdefault((sighting.name, sighting.label), {
            "id": sighting.entity_id, "name": sighting.name, "label": sighting.label,
            "salience": 0.0, "mentions": 0, "articles": 0})
        entry["salience"] += sighting.salience
        entry["mentions"] += sighting.mentions
        entry["articles"] += 1
    ranked = sorted(tally.values(), key=lambda e: (-e["salience"], -e["mentions"], e["name"], e["label"]))
    return ranked[:top]
