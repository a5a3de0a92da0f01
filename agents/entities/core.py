"""The entity registry's pure core: one id per entity across the stream, and what each article says of it.

A registry entry is a plain JSON dict (the value of the `entities` table):

    id, name, label     `person:donald-trump`, the canonical name and label the tag stage resolved
    aliases             the forms articles wrote it in (`Trump`, `President Trump`'s `Trump`, `DONALD TRUMP`)
    first_seen, last_seen   article times, ISO 8601 UTC to the second
    articles, mentions  totals over the stream
    days                mentions per UTC day, the last MAX_DAYS days that had any
    recent_articles     the last RECENT_ARTICLES article ids: a re-delivered sighting is not counted twice

Salience weighs where an article names the entity: a headline mention counts HEADLINE_WEIGHT, one in the lead (the
first body paragraph) LEAD_WEIGHT, any other 1; stories rank their entities by it.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from streams.records import EntitySighting, TaggedArticle
from streams.times import article_time, format_time

HEADLINE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
MAX_ALIASES = 50
MAX_DAYS = 90
RECENT_ARTICLES = 64
SCHEMA_VERSION = 1
NOT_A_WORD = re.compile(r"[^\w]+")

Entry = dict[str, Any]


def entity_id(name: str, label: str) -> str:
    """The entity's id across the stream: its label and its canonical name folded to a slug."""
    slug = NOT_A_WORD.sub("-", name.casefold()).strip("-") or "-"
    return f"{label.lower()}:{slug}"


def lead_end(tagged: TaggedArticle) -> int:
    """Where the lead (first body paragraph) ends in `full_text`; the headline is `[0, len(title))`."""
    article = tagged.article
    body_start = len(article.title) + 2 if article.title else 0
    paragraph_end = article.full_text.find("\n\n", body_start)
    return len(article.full_text) if paragraph_end < 0 else paragraph_end


def sightings(tagged: TaggedArticle) -> list[EntitySighting]:
    """One sighting per entity of the article: its mentions, the forms written, and its salience in the article."""
    headline_end, lead = len(tagged.article.title), lead_end(tagged)
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for mention in tagged.entities:
        grouped[(mention.canonical, mention.label)].append(mention)
    seen = format_time(article_time(tagged.article))
    ids = {key: entity_id(*key) for key in grouped}
    found = []
    for (name, label), mentions in grouped.items():
        salience = sum(HEADLINE_WEIGHT if m.start < headline_end else LEAD_WEIGHT if m.start < lead else 1.0
                       for m in mentions)
        found.append(EntitySighting(
            entity_id=ids[(name, label)], name=name, label=label,
            written=sorted({" ".join(m.text.split()) for m in mentions}), mentions=len(mentions),
            salience=salience, article_id=tagged.article.id, story_id=tagged.verdict.story_id, seen=seen,
            others=[[ids[key], key[0]] for key in grouped if key != (name, label)],
            title=tagged.article.title, source=tagged.article.source, url=tagged.article.url))
    return sorted(found, key=lambda s: (-s.salience, s.entity_id))


def registry_entry(previous: Entry | None, sighting: EntitySighting) -> Entry:
    """The entity's entry after `sighting`, as a new dict; a sighting of an article already counted changes nothing."""
    if previous is not None and sighting.article_id in previous["recent_articles"]:
        return previous
    entry: Entry = _copy(previous) if previous is not None else {
        "schema_version": SCHEMA_VERSION, "id": sighting.entity_id, "name": sighting.name, "label": sighting.label,
        "aliases": [], "first_seen": sighting.seen, "last_seen": sighting.seen, "articles": 0, "mentions": 0,
        "days": {}, "recent_articles": []}
    for form in sighting.written:
        if form not in entry["aliases"] and len(entry["aliases"]) < MAX_ALIASES:
            entry["aliases"].append(form)
    entry["first_seen"] = min(entry["first_seen"], sighting.seen)
    entry["last_seen"] = max(entry["last_seen"], sighting.seen)
    entry["articles"] += 1
    entry["mentions"] += sighting.mentions
    day = sighting.seen[:10]
    entry["days"][day] = entry["days"].get(day, 0) + sighting.mentions
    if len(entry["days"]) > MAX_DAYS:
        entry["days"] = dict(sorted(entry["days"].items())[-MAX_DAYS:])
    entry["recent_articles"] = (entry["recent_articles"] + [sighting.article_id])[-RECENT_ARTICLES:]
    return entry


def _copy(entry: Entry) -> Entry:
    return {**entry, "aliases": list(entry["aliases"]), "days": dict(entry["days"]),
            "recent_articles": list(entry["recent_articles"])}
