"""Rules evaluated per second: the alert core with 1,000 rules on tagged Reuters wires, against evaluating every rule.

    .venv/bin/python -m benchmarks.alert_rules [--articles 1000] [--rules 1000] [--runs 5] [--seed 1987]

The first `--articles` Reuters wires are cleaned and tagged once (the tag stage's core), each as a new story so every
rule is asked. `--rules` rules are drawn from what those wires hold (seeded): entity rules on names the tagger found,
keyword phrases from the wires' titles as specific as watch-list terms (see `watchable_phrases`), `all`/`any` combinations, some narrowed by a source, a language or a
`not`, each with
triggers new_story and new_development. Figures, medians of `--runs` runs, CPU time: articles/s and rule
evaluations/s of `alerts_for` (the atom index picks the rules an article can match), the same with the index
bypassed (every rule on every article: the reference), their ratio, alerts raised, and the index's candidates per
article.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents.alert.core import alerts_for
from agents.alert.facts import StoryFacts
from agents.clean.core import clean_article
from agents.rules.conditions import ArticleView, phrase_words
from agents.rules.ruleset import RuleSet, parse_rules
from agents.tag.core import Tagger, tag_articles
from benchmarks.reuters import reuters_raw
from benchmarks.stage_cores import timed
from streams.raw import raw_from_mapping
from streams.records import DedupedArticle, DedupVerdict, TaggedArticle
from streams.settings import Settings

MAX_SHARE = 0.02  # a watched phrase is in at most 2% of the wires

def tagged_wires(count: int, settings: Settings) -> list[TaggedArticle]:
    """The first `count` Reuters wires, cleaned and tagged, each the first article of its own story."""
    raws = [raw_from_mapping(r, max_bytes=settings.max_article_bytes) for r in reuters_raw(count)]
    cleaned = [article for raw in raws for article in clean_article(raw)][:count]
    items = [DedupedArticle(article=a, verdict=DedupVerdict(kind="new", story_id=a.id)) for a in cleaned]
    return tag_articles(Tagger.from_settings(settings), items)


def random_rules(wires: Sequence[TaggedArticle], count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` rule entries over the names and words of `wires`, mixed as users write them."""
    names = sorted({m.canonical for w in wires for m in w.entities})
    phrases = watchable_phrases(wires)

    def watched() -> dict[str, Any]:  # what a rule is about: entities or phrases
        if rng.random() < 0.5 or not phrases:
            return {"entities": rng.sample(names, rng.randint(1, 3))}
        return {"keywords": rng.sample(phrases, min(rng.randint(1, 3), len(phrases)))}

    def narrowing() -> dict[str, Any]:  # what users add to cut a rule down
        return rng.choice([{"sources": [rng.choice(["Reuters", "AP", "Bloomberg"])]},
                           {"languages": [rng.choice(["en", "de"])]}, {"not": watched()}])

    def condition() -> dict[str, Any]:
        shape = rng.random()
        if shape < 0.6:
            return watched()
        if shape < 0.75:
            return {"all": [watched(), watched()]}
        if shape < 0.9:
            return {"any": [watched(), watched(), watched()]}
        return {"all": [watched(), narrowing()]}

    return [{"id": f"rule-{n}", "description": f"benchmark rule {n}", "when": condition(),
             "triggers": ["new_story", "new_development"]} for n in range(count)]


def watchable_phrases(wires: Sequence[TaggedArticle]) -> list[str]:
    """Title words and adjacent word pairs ("crude oil") as specific as watch-list terms: in at least 2 of the
    wires and at most MAX_SHARE of them, title or body (a rule on "says" or "year" would alert on everything)."""
    in_titles: set[str] = set()
    for wire in wires:
        words = [w for w in phrase_words(wire.article.title) if not w.isdigit()]
        in_titles |= {w for w in words if len(w) > 3} | {f"{a} {b}" for a, b in zip(words, words[1:])}
    counts: Counter[str] = Counter()
    for wire in wires:
        words = phrase_words(wire.article.full_text)
        counts.update(({w for w in words} | {f"{a} {b}" for a, b in zip(words, words[1:])}) & in_titles)
    return sorted(p for p, n in counts.items() if 2 <= n <= MAX_SHARE * len(wires))


class EveryRule(RuleSet):
    """The reference: the same rules with the index bypassed, so each article is asked of every rule."""

    def candidates(self, view: ArticleView) -> list:  # type: ignore[override]
        return list(self.rules)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=1000)
    options.add_argument("--rules", type=int, default=1000)
    options.add_argument("--runs", type=int, default=5)
    options.add_argument("--seed", type=int, default=1987)
    args = options.parse_args()
    settings = Settings.from_env()
    wires = tagged_wires(args.articles, settings)
    rules = parse_rules(random_rules(wires, args.rules, random.Random(args.seed)))
    assert not rules.errors, rules.errors[:3]
    reference = replace(EveryRule(), rules=rules.rules)

    def raise_all(ruleset: RuleSet) -> int:
        stories = StoryFacts({})  # what the stage keeps per story is part of its cost
        return sum(len(alerts_for(wire, ruleset, stories, now=0.0)) for wire in wires)

    indexed_s, raised = timed(lambda: raise_all(rules), args.runs, time.process_time)
    every_s, raised_every = timed(lambda: raise_all(reference), args.runs, time.process_time)
    assert raised == raised_every, (raised, raised_every)  # the index never changes what fires
    asked = statistics.mean(len(rules.candidates(ArticleView(w))) for w in wires)
    n, r = len(wires), len(rules)
    print(f"alert core: {n} tagged Reuters wires, {r} rules (seed {args.seed}), median CPU of {args.runs} runs")
    print(f"  indexed     {n / indexed_s:9.0f} articles/s  {n * r / indexed_s:12.0f} rule evaluations/s "
          f"(rules asked per article: {asked:.1f})")
    print(f"  every rule  {n / every_s:9.0f} articles/s  {n * r / every_s:12.0f} rule evaluations/s")
    print(f"  ratio indexed / every rule: {every_s / indexed_s:.1f}x; alerts raised: {raised}")


if __name__ == "__main__":
    main()
