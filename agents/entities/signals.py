"""Cross-story triggers, decided where an entity's registry entry lives: `surge` and `first_co_mention`.

Both read article time (publish, else ingest), so a replay fires what live traffic fired, and both are decided on
one partition per entity, so any number of workers decides the same:
- surge: an entity's mentions in the current UTC hour reach `factor` × its mean per hour over the 24 hours
  before (and at least `min_mentions`); fired once, by the sighting that crosses the line.
- first_co_mention: two entities a rule watches appear in one article, and had not within the rule's
  `co_mention_window`; decided on the partition of the pair's smaller entity id.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from agents.alert.conditions import EntityTarget
from agents.alert.rules import Rule, RuleSet
from agents.entities.core import Entry
from streams.records import EntitySighting, EntitySignal

BASELINE_HOURS = 24
MAX_PARTNERS = 200  # watched pairs remembered per entity
HOUR_FORMAT = "%Y-%m-%dT%H"


def hour_key(seen: str) -> str:
    """The UTC hour of an ISO time, e.g. "2019-06-30T07"."""
    return seen[:13]


def hours_before(hour: str, count: int) -> list[str]:
    """The `count` hour keys before `hour`."""
    start = datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=timezone.utc)
    return [(start - timedelta(hours=n)).strftime(HOUR_FORMAT) for n in range(1, count + 1)]


def counted_hours(entry: Entry, sighting: EntitySighting) -> dict[str, int]:
    """The entry's mentions per hour with the sighting's added, keeping the hour and the BASELINE_HOURS before it."""
    hour = hour_key(sighting.seen)
    hours = dict(entry.get("hours", {}))
    hours[hour] = hours.get(hour, 0) + sighting.mentions
    keep = {hour, *hours_before(hour, BASELINE_HOURS)}
    return {key: count for key, count in hours.items() if key in keep or key > hour}


def _targets_of(names: set[str], label: str, targets: tuple[EntityTarget, ...]) -> set[EntityTarget]:
    return {t for t in targets if names & set(t.names) and (t.label is None or t.label == label)}


def signals(rules: RuleSet, entry: Entry, sighting: EntitySighting) -> tuple[Entry, list[EntitySignal]]:
    """The entry after this (newly counted) sighting's hour and pairs, and the signals it fires."""
    entry = {**entry, "hours": counted_hours(entry, sighting), "partners": dict(entry.get("partners", {}))}
    names = {sighting.name.casefold(), *(form.casefold() for form in sighting.written)}
    fired: list[EntitySignal] = []
    for rule in rules.cross_story:  # once per sighting: only the rules that can fire here
        mine = _targets_of(names, sighting.label, rule.watched)
        if not mine:
            continue
        if "surge" in rule.triggers:
            fired += _surge(rule, entry, sighting)
        if "first_co_mention" in rule.triggers:
            fired += _co_mentions(rule, mine, entry, sighting)
    if len(entry["partners"]) > MAX_PARTNERS:
        entry["partners"] = dict(sorted(entry["partners"].items(), key=lambda kv: kv[1])[-MAX_PARTNERS:])
    return entry, fired


def _surge(rule: Rule, entry: Entry, sighting: EntitySighting) -> list[EntitySignal]:
    factor, least = rule.surge
    hour = hour_key(sighting.seen)
    now = entry["hours"][hour]
    baseline = sum(entry["hours"].get(h, 0) for h in hours_before(hour, BASELINE_HOURS)) / BASELINE_HOURS
    line = max(least, factor * baseline)
    if not now - sighting.mentions < line <= now:
        return []
    detail = (f"{sighting.name}: {now} mentions in the hour from {hour[11:]}:00 UTC, against a mean of "
              f"{baseline:.1f} per hour over the {BASELINE_HOURS} hours before")
    return [_signal(rule, "surge", f"surge:{sighting.entity_id}:{hour}", [sighting.name], detail, sighting)]


def _co_mentions(rule: Rule, mine: set[EntityTarget], entry: Entry, sighting: EntitySighting) -> list[EntitySignal]:
    fired = []
    seen_at = _seconds(sighting.seen)
    for other_id, other_name in sighting.others:
        label = other_id.split(":", 1)[0].upper()
        theirs = _targets_of({other_name.casefold()}, label, rule.watched)
        if other_id <= sighting.entity_id or not theirs or not (theirs - mine or mine - theirs):
            continue  # the pair is decided on its smaller id's partition; two different watched entities
        key = f"{rule.id}|{other_id}"
        last = entry["partners"].get(key)
        entry["partners"][key] = sighting.seen
        if last is not None and seen_at - _seconds(last) < rule.co_mention_window:
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


def _seconds(seen: str) -> float:
    return datetime.strptime(seen, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
