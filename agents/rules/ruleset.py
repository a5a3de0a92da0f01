"""Alert rules: a YAML file of conditions on tagged articles, validated at load and matched without regexes from users.

    rules:
      - id: korea-summit                      # [a-z0-9_-]+, unique; the metric label
        description: Kim or North Korea in the news
        when:                                 # several keys = all of them
          entities: ["Kim Jong Un", {name: North Korea, label: GPE, aliases: [DPRK]}]
          any: [{keywords: [summit, DMZ]}, {not: {sources: [Reuters]}}]
          languages: [en]
        triggers: [new_story, new_development]
        channels: [console, webhook, email]   # optional; default all (console, topic, webhook, slack, email, sse)
        cooldown: 30m                         # optional: per story, no alert sooner than this after the last
        throttle: {max: 3, per: 1h}           # optional: per story, at most `max` alerts in any `per`
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.rules.conditions import (AllOf, AnyOf, ArticleView, Atom, Condition, Entities, EntityTarget, Keywords,
                                     Languages, Not, RuleMatch, Sources)
from streams.records import SIGNAL_TRIGGERS, TRIGGERS, TaggedArticle

CHANNELS = ("console", "webhook", "slack", "email", "sse", "topic")
RULE_ID = re.compile(r"[a-z0-9_-]+")
RULE_KEYS = {"id", "description", "when", "triggers", "channels", "cooldown", "throttle", "surge",
             "co_mention_window", "min_new_facts", "digest"}
CONDITION_KEYS = ("entities", "keywords", "sources", "languages", "all", "any", "not")
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SURGE_FACTOR = 3.0
SURGE_MIN_MENTIONS = 5
CO_MENTION_WINDOW = 7 * 86400.0
MIN_NEW_FACTS = 3  # a re-telling that names one or two more places is not a development


@dataclass(frozen=True)
class Rule:
    """One validated rule."""

    id: str
    description: str
    when: Condition
    triggers: frozenset[str]
    channels: frozenset[str] = frozenset(CHANNELS)
    cooldown: float = 0.0                      # seconds between two alerts of one story; 0 = none
    throttle: tuple[int, float] | None = None  # (most alerts, window seconds) per story
    surge: tuple[float, int] = (SURGE_FACTOR, SURGE_MIN_MENTIONS)  # (factor over the baseline, least mentions)
    co_mention_window: float = CO_MENTION_WINDOW  # seconds: a pair seen together again within it is not news
    min_new_facts: int = MIN_NEW_FACTS         # new_development: facts the story did not have, at least
    digest: float = 0.0                        # seconds: alerts batched into one message this often; 0 = each alone

    @property
    def watched(self) -> tuple[EntityTarget, ...]:
        """The entities the rule watches: its `entities` targets outside any `not`."""
        return tuple(dict.fromkeys(watched_targets(self.when)))

    def match(self, article: TaggedArticle | ArticleView) -> RuleMatch | None:
        """Why the rule matches `article`, or None when it does not."""
        view = article if isinstance(article, ArticleView) else ArticleView(article)
        return self.when.match(view)


@dataclass(frozen=True)
class RuleError:
    """A problem with one rule, named by rule id (or position), field and what is wrong."""

    rule: str
    field: str
    problem: str

    def __str__(self) -> str:
        return f"rule {self.rule}: field '{self.field}': {self.problem}"


class RulesInvalid(ValueError):
    """The rules file cannot be used: unreadable, or (with `strict=True`) any rule is invalid."""

    def __init__(self, path: Path, errors: Iterable[RuleError | str]) -> None:
        self.errors = tuple(errors)
        super().__init__(f"{path}: " + "; ".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class RuleSet:
    """The valid rules of a file, and the errors of the ones that were left out; indexed by the atoms they need."""

    rules: tuple[Rule, ...] = ()
    errors: tuple[RuleError, ...] = ()
    by_atom: dict[Atom, tuple[int, ...]] = field(init=False, compare=False, repr=False, default_factory=dict)
    always: tuple[int, ...] = field(init=False, compare=False, repr=False, default=())
    cross_story: tuple[Rule, ...] = field(init=False, compare=False, repr=False, default=())  # surge, co-mention

    def __post_init__(self) -> None:
        by_atom: dict[Atom, list[int]] = {}
        always = []
        for position, rule in enumerate(self.rules):
            atoms = rule.when.needed_atoms()
            if atoms is None:
                always.append(position)
            for atom in atoms or ():
                by_atom.setdefault(atom, []).append(position)
        object.__setattr__(self, "by_atom", {atom: tuple(found) for atom, found in by_atom.items()})
        object.__setattr__(self, "always", tuple(always))
        object.__setattr__(self, "cross_story", tuple(r for r in self.rules if r.triggers & set(SIGNAL_TRIGGERS)))

    def candidates(self, view: ArticleView) -> list[Rule]:
        """The rules that can match `view` (a rule holding none of its atoms cannot), in file order."""
        found = set(self.always)
        for atom in view.atoms():
            found.update(self.by_atom.get(atom, ()))
        return [self.rules[position] for position in sorted(found)]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def ids(self) -> tuple[str, ...]:
        """Rule ids, the bounded set of `rule` metric label values."""
        return tuple(rule.id for rule in self.rules)


def load_rules(path: Path | str, *, strict: bool = False) -> RuleSet:
    """Rules from a YAML file; invalid rules are left out and reported in `errors` (or raised when `strict`).

    A file that is not YAML or has no `rules:` list always raises `RulesInvalid`: running with no rules by accident
    would silence every alert.
    """
    path = Path(path)
    ruleset = parse_rules(rule_entries(path))
    if strict and ruleset.errors:
        raise RulesInvalid(path, ruleset.errors)
    return ruleset


def rule_entries(path: Path) -> list[Any]:
    """The entries under `rules:` in a YAML file, unvalidated; `RulesInvalid` when the file itself is unusable."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesInvalid(path, [f"cannot read rules: {exc}"]) from exc
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulesInvalid(path, ["expected a mapping with a 'rules:' list"])
    return document["rules"]


def parse_rules(entries: list[Any]) -> RuleSet:
    """Validate already-parsed rule entries (the list under `rules:`)."""
    rules: list[Rule] = []
    errors: list[RuleError] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        rule_errors: list[RuleError] = []
        rule = _parse_rule(entry, position, seen, rule_errors.append)
        errors += rule_errors
        if rule is not None and not rule_errors:
            rules.append(rule)
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            seen.add(entry["id"])  # an invalid rule still claims its id, so a later copy is reported, not loaded
    return RuleSet(tuple(rules), tuple(errors))


Report = Callable[[RuleError], None]


def _parse_rule(entry: Any, position: int, seen: set[str], report: Report) -> Rule | None:
    if not isinstance(entry, dict):
        report(RuleError(f"#{position}", "rule", "expected a mapping"))
        return None
    rule_id = entry.get("id")
    name = f"'{rule_id}'" if isinstance(rule_id, str) and rule_id else f"#{position}"

    def error(field_name: str, problem: str) -> None:
        report(RuleError(name, field_name, problem))

    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        error("id", f"{rule_id!r} is not a string of [a-z0-9_-]")
    elif rule_id in seen:
        error("id", "duplicate id (an earlier rule has it)")
    for unknown in sorted(set(entry) - RULE_KEYS, key=str):
        error(str(unknown), "unknown field")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        error("description", "must be a non-empty string")
    triggers = _choices(entry.get("triggers"), TRIGGERS, "trigger", lambda p: error("triggers", p))
    channels = (_choices(entry["channels"], CHANNELS, "channel", lambda p: error("channels", p))
                if "channels" in entry else frozenset(CHANNELS))
    if "when" not in entry:
        error("when", "missing")
        return None
    when = _parse_condition(entry["when"], "when", error)
    cooldown = _duration(entry["cooldown"], lambda p: error("cooldown", p)) if "cooldown" in entry else 0.0
    throttle = _throttle(entry["throttle"], lambda p: error("throttle", p)) if "throttle" in entry else None
    surge = _surge(entry.get("surge", {}), lambda p: error("surge", p))
    window = (_duration(entry["co_mention_window"], lambda p: error("co_mention_window", p))
              if "co_mention_window" in entry else CO_MENTION_WINDOW)
    least_facts = entry.get("min_new_facts", MIN_NEW_FACTS)
    if isinstance(least_facts, bool) or not isinstance(least_facts, int) or least_facts < 1:
        error("min_new_facts", f"must be a whole number, 1 or more, not {least_facts!r}")
        least_facts = None
    digest = _duration(entry["digest"], lambda p: error("digest", p)) if "digest" in entry else 0.0
    if when is None or triggers is None or channels is None or cooldown is None or throttle == () or surge is None \
            or window is None or least_facts is None or digest is None:
        return None
    watching = len(tuple(dict.fromkeys(watched_targets(when))))
    if "first_co_mention" in triggers and watching < 2:
        error("triggers", "first_co_mention needs at least two watched entities in `when.entities`")
        return None
    if "surge" in triggers and watching < 1:
        error("triggers", "surge needs a watched entity in `when.entities`")
        return None
    return Rule(rule_id, description, when, triggers, channels, cooldown, throttle or None, surge, window,
                least_facts, digest)


def watched_targets(condition: Condition) -> Iterator[EntityTarget]:
    """The entity targets of a condition tree, except those under a `not`."""
    if isinstance(condition, Entities):
        yield from condition.targets
    elif isinstance(condition, (AllOf, AnyOf)):
        for part in condition.parts:
            yield from watched_targets(part)


def _surge(value: Any, error: Callable[[str], None]) -> tuple[float, int] | None:
    """(factor, least mentions) from `{factor: 3, min_mentions: 5}` (either may be left out)."""
    if not isinstance(value, Mapping) or set(value) - {"factor", "min_mentions"}:
        error("expected a mapping {factor: NUMBER, min_mentions: N}")
        return None
    factor, least = value.get("factor", SURGE_FACTOR), value.get("min_mentions", SURGE_MIN_MENTIONS)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 1:
        error(f"factor must be a number above 1, not {factor!r}")
        return None
    if isinstance(least, bool) or not isinstance(least, int) or least < 1:
        error(f"min_mentions must be a whole number, 1 or more, not {least!r}")
        return None
    return float(factor), least


def _duration(value: Any, error: Callable[[str], None]) -> float | None:
    """Seconds from `90s`, `30m`, `2h`, `1d` (or a bare number of seconds); None after reporting a bad one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    found = DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or float(found.group(1)) <= 0:
        error(f"{value!r} is not a duration such as 90s, 30m, 2h or 1d")
        return None
    return float(found.group(1)) * DURATION_UNITS[found.group(2)]


def _throttle(value: Any, error: Callable[[str], None]) -> tuple[int, float] | tuple[()]:
    """(most alerts, window seconds) from `{max: 3, per: 1h}`; () after reporting a bad one."""
    if not isinstance(value, Mapping) or set(value) != {"max", "per"}:
        error("expected a mapping {max: N, per: DURATION}")
        return ()
    most = value["max"]
    if not isinstance(most, int) or isinstance(most, bool) or most < 1:
        error(f"max must be a whole number of alerts, 1 or more, not {most!r}")
        return ()
    per = _duration(value["per"], error)
    return () if per is None else (most, per)


def _choices(value: Any, allowed: tuple[str, ...], what: str, error: Callable[[str], None]) -> frozenset[str] | None:
    if not isinstance(value, list) or not value:
        error(f"must be a non-empty list of {', '.join(allowed)}")
        return None
    unknown = [v for v in value if v not in allowed]
    for v in unknown:
        error(f"unknown {what} {v!r}")
    return None if unknown else frozenset(value)


def _parse_condition(node: Any, where: str, error: Callable[[str, str], None]) -> Condition | None:
    """A condition from its YAML mapping; several keys mean all of them."""
    if not isinstance(node, dict) or not node:
        error(where, f"expected a mapping with one or more of {', '.join(CONDITION_KEYS)}")
        return None
    parts: list[Condition | None] = []
    for key, value in node.items():
        at = f"{where}.{key}"
        if key == "entities":
            parts.append(_parse_entities(value, at, error))
        elif key == "keywords":
            phrases = _strings(value, at, error)
            bad = [p for p in phrases or () if not re.search(r"\w", p)]
            for p in bad:
                error(at, f"keyword {p!r} has no letters or digits")
            parts.append(Keywords.of(phrases) if phrases and not bad else None)
        elif key == "sources":
            names = _strings(value, at, error)
            parts.append(Sources(frozenset(n.casefold() for n in names)) if names else None)
        elif key == "languages":
            codes = _strings(value, at, error)
            bad = [c for c in codes or () if not re.fullmatch(r"[A-Za-z]{2,3}", c)]
            for code in bad:
                error(at, f"{code!r} is not a language code such as en or de")
            parts.append(Languages(frozenset(c.casefold() for c in codes)) if codes and not bad else None)
        elif key in ("all", "any"):
            if not isinstance(value, list) or not value:
                error(at, "must be a non-empty list of conditions")
                parts.append(None)
                continue
            children = [_parse_condition(child, f"{at}[{i}]", error) for i, child in enumerate(value)]
            ok = all(c is not None for c in children)
            parts.append((AllOf if key == "all" else AnyOf)(tuple(children)) if ok else None)  # type: ignore[arg-type]
        elif key == "not":
            child = _parse_condition(value, at, error)
            parts.append(Not(child) if child is not None else None)
        else:
            error(at, f"unknown condition (expected one of {', '.join(CONDITION_KEYS)})")
            parts.append(None)
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))  # type: ignore[arg-type]


def _parse_entities(value: Any, at: str, error: Callable[[str, str], None]) -> Entities | None:
    if not isinstance(value, list) or not value:
        error(at, "must be a non-empty list of names or {name, label, aliases}")
        return None
    targets: list[EntityTarget] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            targets.append(EntityTarget((" ".join(item.casefold().split()),)))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"].strip():
            unknown = set(item) - {"name", "label", "aliases"}
            label = item.get("label")
            aliases = item.get("aliases", [])
            if unknown:
                error(at, f"entity {item['name']!r}: unknown keys {sorted(unknown, key=str)}")
            elif label is not None and (not isinstance(label, str) or not label.strip()):
                error(at, f"entity {item['name']!r}: label must be a string such as PERSON")
            elif not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                error(at, f"entity {item['name']!r}: aliases must be a list of names")
            else:
                names = tuple(dict.fromkeys(" ".join(n.casefold().split()) for n in [item["name"], *aliases]))
                targets.append(EntityTarget(names, label.strip().upper() if label else None))
        else:
            error(at, f"{item!r} is not a name or a mapping with a 'name'")
    return Entities(tuple(targets)) if len(targets) == len(value) else None


def _strings(value: Any, at: str, error: Callable[[str, str], None]) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        error(at, "must be a non-empty list of non-empty strings")
        return None
    return [v.strip() for v in value]
