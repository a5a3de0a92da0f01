"""Builders of tagged articles and rule sets, shared by the alert stage's tests."""
from __future__ import annotations

from datetime import UTC, datetime

import yaml

from agents.rules.ruleset import RuleSet, parse_rules
from streams.records import CleanArticle, DedupVerdict, EntityMention, TaggedArticle


def article(body: str, *, source: str = "Reuters", language: str = "en", names: dict[str, str] | None = None,
            story: str = "s1", article_id: str = "a1", hour: int = 7, adds: str = "") -> TaggedArticle:
    """A tagged article; `names` maps a name written in `body` to its canonical name (label ORG); one that `adds`
    a sentence is an update of its story (a new development), else the story's first article."""
    clean = CleanArticle(id=article_id, title="", paragraphs=[body], source=source, language=language,
                         published=datetime(2019, 6, 30, hour, tzinfo=UTC), ingested_at=1e9)
    mentions = [EntityMention(start=body.index(written), end=body.index(written) + len(written), text=written,
                              label="ORG", canonical=canonical) for written, canonical in (names or {}).items()]
    verdict = DedupVerdict(kind="update" if adds else "new", story_id=story, added_sentences=[adds] if adds else [])
    return TaggedArticle(article=clean, verdict=verdict, entities=mentions)


def ruleset(*whens: str, extra: str = "") -> RuleSet:
    """Rules r0, r1, … with these `when` clauses, firing on new stories and new developments; they must parse."""
    entries = [yaml.safe_load(f"{{id: r{n}, description: d, when: {when}, triggers: [new_story, new_development]"
                              f"{extra}}}")
               for n, when in enumerate(whens)]
    rules = parse_rules(entries)
    assert not rules.errors, rules.errors
    return rules


def fired(rules: RuleSet, tagged: TaggedArticle) -> list[str]:
    """The ids of the rules that match `tagged`."""
    return [rule.id for rule in rules if rule.match(tagged) is not None]
