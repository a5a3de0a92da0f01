"""Alert rules: a YAML file of conditions on tagged articles, validated at load and matched without regexes from users.

    rules:
      - id: korea-summit                      # [a-z0-9_-]+, unique; the metric label
        description: Kim or North Korea in the news
        when:                                 # several keys = all of them
          entities: ["Kim Jong Un", {name: North Korea, label: GPE, aliases: [DPRK]}]
          any: [{keywords: [summit, DMZ]}, {not: {sources: [Reuters]}}]
        triggers: [new_story, new_development]
        channels: [console, webhook]          # optional; default all
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from streams.records import TRIGGERS, TaggedArticle

CHANNELS = ("console", "webhook", "topic")
RULE_ID = re.compile(r"[a-z0-9_-]+")
RULE_KEYS = {"id", "description", "when", "triggers", "channels"}
CONDITION_KEYS = ("entities", "keywords", "sources", "all", "any", "not")


@dataclass(frozen=True)
class RuleMatch:
    """Why a rule matched: the article's canonical entities and the keywords it hit."""

    matched_entities: tuple[str, ...] = ()
    matched_keywords: tuple[str, ...] = ()


class ArticleView:
    """What conditions look at, computed once per article: text, entity names, source."""

    def __init__(self, tagged: TaggedArticle) -> None:
        self.text = tagged.article.full_text
        self.source = (tagged.article.source or "").casefold()
        # Name as written or canonical (casefolded) → (canonical, label): a rule may name either.
        self.entities: dict[str, set[tuple[str, str]]] = {}
        for mention in tagged.entities:
            for name in (mention.canonical, mention.text):
                self.entities.setdefault(name.casefold(), set()).add((mention.canonical, mention.label))


@dataclass(frozen=True)
class EntityTarget:
    """One entity a rule watches: its names (canonical and aliases, casefolded) and an optional label."""

    names: tuple[str, ...]
    label: str | None = None


@dataclass(frozen=True)
class Entities:
    """Matches when the article mentions any of `targets`."""

    targets: tuple[EntityTarget, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        found: list[str] = []
        for target in self.targets:
            for name in target.names:
                found += sorted(canonical for canonical, label in view.entities.get(name, ())
                                if target.label is None or label == target.label)
        return RuleMatch(matched_entities=_unique(found)) if found else None


@dataclass(frozen=True)
class Keywords:
    """Matches when title or body contains any phrase as whole words, case-insensitively."""

    phrases: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = field(compare=False, repr=False)

    @classmethod
    def of(cls, phrases: Iterable[str]) -> Keywords:
        phrases = tuple(phrases)
        return cls(phrases, tuple(_phrase_pattern(p) for p in phrases))

    def match(self, view: ArticleView) -> RuleMatch | None:
        hits = tuple(p for p, pattern in zip(self.phrases, self.patterns) if pattern.search(view.text))
        return RuleMatch(matched_keywords=hits) if hits else None


@dataclass(frozen=True)
class Sources:
    """Matches when the article's source is one of `names` (casefolded, exact)."""

    names: frozenset[str]

    def match(self, view: ArticleView) -> RuleMatch | None:
        return RuleMatch() if view.source in self.names else None


@dataclass(frozen=True)
class AllOf:
    """Matches when every part matches; explains itself with everything the parts matched."""

    parts: tuple[Condition, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        matches = []
        for part in self.parts:
            found = part.match(view)
            if found is None:
                return None
            matches.append(found)
        return _merge(matches)


@dataclass(frozen=True)
class AnyOf:
    """Matches when at least one part matches; explains itself with every part that did."""

    parts: tuple[Condition, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        matches = [found for part in self.parts if (found := part.match(view)) is not None]
        return _merge(matches) if matches else None


@dataclass(frozen=True)
class Not:
    """Matches when `part` does not; contributes nothing to the explanation."""

    part: Condition

    def match(self, view: ArticleView) -> RuleMatch | None:
        return RuleMatch() if self.part.match(view) is None else None


Condition = Union[Entities, Keywords, Sources, AllOf, AnyOf, Not]


@dataclass(frozen=True)
class Rule:
    """One validated rule."""

    id: str
    description: str
    when: Condition
    triggers: frozenset[str]
    channels: frozenset[str] = frozenset(CHANNELS)

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
    """The valid rules of a file, and the errors of the ones that were left out."""

    rules: tuple[Rule, ...] = ()
    errors: tuple[RuleError, ...] = ()

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
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesInvalid(path, [f"cannot read rules: {exc}"]) from exc
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RulesInvalid(path, ["expected a mapping with a 'rules:' list"])
    ruleset = parse_rules(document["rules"])
    if strict and ruleset.errors:
        raise RulesInvalid(path, ruleset.errors)
    return ruleset


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
    if when is None or triggers is None or channels is None:
        return None
    return Rule(rule_id, description, when, triggers, channels)


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
            targets.append(EntityTarget((item.strip().casefold(),)))
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
                names = tuple(dict.fromkeys(n.strip().casefold() for n in [item["name"], *aliases]))
                targets.append(EntityTarget(names, label.strip().upper() if label else None))
        else:
            error(at, f"{item!r} is not a name or a mapping with a 'name'")
    return Entities(tuple(targets)) if len(targets) == len(value) else None


def _strings(value: Any, at: str, error: Callable[[str, str], None]) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        error(at, "must be a non-empty list of non-empty strings")
        return None
    return [v.strip() for v in value]


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern for a literal phrase; any whitespace run matches any other."""
    words = (re.escape(word) for word in phrase.split())
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def _merge(matches: Iterable[RuleMatch]) -> RuleMatch:
    matches = list(matches)
    return RuleMatch(
        matched_entities=_unique(e for m in matches for e in m.matched_entities),
        matched_keywords=_unique(k for m in matches for k in m.matched_keywords),
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
