"""Cross-story triggers, decided where an entity's registry entry lives: `surge` and `first_co_mention`.

Both read article time (publish, else ingest), so a replay fires what live traffic fired, and both are decided on
one partition per entity, so any number of workers decides the same:
- surge: an entity's mentions in the hour that ends with a sighting (its trailing hour, in 10-minute steps) reach
  `factor` × its mean per hour over the 24 hours before (and at least `min_mentions`); fired by the sighting
  that crosses the line. The counts come from a Faust windowed table (`agents.entities.windows`).
- first_co_mention: two entities a rule watches appear in one article, and had not within the rule's
  `co_mention_window`; decided on the partition of the pair's smaller entity id.
"""
from __future__ import annotations

from datetime import datetime, timezone

from agents.entities.core import Entry
from agents.entities.windows import MentionCounts
from agents.rules.conditions import EntityTarget
from agents.rules.ruleset import Rule, RuleSet
from streams.records import EntitySighting, EntitySignal
from streams.times import format_time, parse_time

MAX_PARTNERS = 200  # watched pairs remembered per entity


def _targets_of(names: set[str], label: str, targets: tuple[EntityTarget, ...]) -> set[EntityTarget]:
    return {t for t in targets if names & set(t.names) and (t.label is None or t.label == label)}


def surge_watched(rules: RuleSet, sighting: EntitySighting) -> bool:
    """Whether a rule watches the sighting's entity for a surge: only those entities' mentions are counted."""
    names = _names_of(sighting)
    return any("surge" in rule.triggers and _targets_of(names, sighting.label, rule.watched)
               for rule in rules.cross_story)


def signals(rules: RuleSet, entry: Entry, sighting: EntitySighting, counts: MentionCounts | None,
            ) -> tuple[Entry, list[EntitySignal]]:
    """The entry after this (newly counted) sighting's pairs, and the signals it fires; `counts` are the entity's
    mentions around it (None when no rule watches it for a surge)."""
    entry = {**entry, "partners": dict(entry.get("partners", {}))}
    names = _names_of(sighting)
    fired: list[EntitySignal] = []
    for rule in rules.cross_story:  # once per sighting: only the rules that can fire here
        mine = _targets_of(names, sighting.label, rule.watched)
        if not mine:
            continue
        if "surge" in rule.triggers and counts is not None:
            fired += _surge(rule, counts, sighting)
        if "first_co_mention" in rule.triggers:
            fired += _co_mentions(rule, mine, entry, sighting)
    if len(entry["partners"]) > MAX_PARTNERS:
        entry["partners"] = dict(sorted(entry["partners"].items(), key=lambda kv: kv[1])[-MAX_PARTNERS:])
    return entry, fired


def _surge(rule: Rule, counts: MentionCounts, sighting: EntitySighting) -> list[EntitySignal]:
    factor, least = rule.surge
    line = max(least, factor * counts.hourly_mean)
    if not counts.before < line <= counts.now:
        return []
    start = format_time(datetime.fromtimestamp(counts.start, timezone.utc))
    detail = (f"{sighting.name}: {counts.now} mentions in the hour from {start[11:16]} UTC, against a mean of "
              f"{counts.hourly_mean:.1f} per hour over the {len(counts.baseline)} hours before")
    return [_signal(rule, "surge", f"surge:{sighting.entity_id}:{start}", [sighting.name], detail, sighting)]


def _co_mentions(rule: Rule, mine: set[EntityTarget], entry: Entry, sighting: EntitySighting) -> list[EntitySignal]:
    fired = []
    seen_at = parse_time(sighting.seen).timestamp()
    for other_id, other_name in sighting.others:
        label = other_id.split(":", 1)[0].upper()
        theirs = _targets_of({other_name.casefold()}, label, rule.watched)
        if other_id <= sighting.entity_id or not theirs or not (theirs - mine or mine - theirs):
            continue  # the pair is decided on its smaller id's partition; two different watched entities
        key = f"{rule.id}|{other_id}"
        last = entry["partners"].get(key)
        entry["partners"][key] = sighting.seen
        if last is not None and seen_at - parse_time(last).timestamp() < rule.co_mention_window:
            continue
        detail = f"{sighting.name} and {other_name} together for the first time" + (
            f" since {last}" if last else "")
        fired.append(_signal(rule, "first_co_mention", f"pair:{sighting.entity_id}|{other_id}:{sighting.seen}",
                             [sighting.name, other_name], detail, sighting))
    return fired


def _signal(rule: Rule, trigger: str, development: str, entities: list[str], detail: str,
            sighting: EntitySighting) -> EntitySignal:
    return EntitySignal(rule_id=rule.id, trigger=trigger, development=development, entities=entities, detail=detail,
                        article_id=sighting.article_id, story_id=sighting.story_id, seen=sighting.seen,
                        title=sighting.title,
                        source=sighting.source, url=sighting.url)


def _names_of(sighting: EntitySighting) -> set[str]:
    return {sighting.name.casefold(), *(form.casefold() for form in sighting.written)}
