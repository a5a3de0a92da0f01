"""A day of Reuters wires replayed through the four cores: each alert fired and why, and what dedup and throttling avoid.

    .venv/bin/python -m benchmarks.reuters_alerts [--day YYYY-MM-DD] [--rules benchmarks/reuters_rules.yaml]

The day's dated Reuters-21578 wires (default: the day with most wires, the earliest of a tie) are cleaned, judged by
one in-memory dedup index and tagged in publish order as `wirewatch process` does, then alerted three times over the
same tagged wires: every wire as a new story of its own; with dedup's verdicts; with dedup's verdicts and the rules'
cooldowns and throttles (what fires). Each idempotency key is raised once in every run, as the ledger does. The index
starts empty: it knows nothing of the days before.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from agents.alert.core import AlertThrottle
from agents.rules.ruleset import Rule, RuleSet, load_rules
from wirewatch.offline import judged_in_order, raised_alerts
from agents.tag.core import Tagger, tag_articles
from benchmarks.reuters import reuters_raw
from benchmarks.reuters_reference import clean_reuters
from streams.records import VERDICT_KINDS, Alert, DedupVerdict, TaggedArticle
from streams.settings import Settings
from streams.times import article_time

RULES = Path(__file__).resolve().parent / "reuters_rules.yaml"
RUNS = ("every wire new", "dedup", "fired")  # the three alert runs, in the order the table shows them
DEFINITIONS = (
    "avoided by dedup: the alerts the rules raise when every wire is a new story of its own (verdict forced to "
    "new), minus those they raise with dedup's verdicts; both without cooldowns and throttles",
    "avoided by throttling: the alerts raised with dedup's verdicts without the rules' cooldowns and throttles, "
    "minus those fired with them",
)
SENTENCE_CHARS = 160  # a new sentence is cut to this in the listing


@dataclass(frozen=True)
class AlertReplay:
    """The alerts of each tagged article in the three runs, aligned with `articles`."""

    articles: Sequence[TaggedArticle]
    every_wire_new: Sequence[list[Alert]]  # each wire a new story of its own, no cooldowns or throttles
    deduped: Sequence[list[Alert]]         # dedup's verdicts, no cooldowns or throttles
    fired: Sequence[list[Alert]]           # dedup's verdicts, cooldowns and throttles: what reaches the output

    def counts(self, run: str) -> Counter[tuple[str, str]]:
        """Alerts per (rule id, trigger) in one of RUNS."""
        alerts = {"every wire new": self.every_wire_new, "dedup": self.deduped, "fired": self.fired}[run]
        return Counter((alert.rule_id, alert.trigger) for raised in alerts for alert in raised)

    @property
    def avoided_by_dedup(self) -> int:
        return sum(map(len, self.every_wire_new)) - sum(map(len, self.deduped))

    @property
    def avoided_by_throttling(self) -> int:
        return sum(map(len, self.deduped)) - sum(map(len, self.fired))

    def held(self, position: int) -> list[Alert]:
        """The alerts of the article at `position` that the rules' cooldowns or throttles held back."""
        admitted = {alert.idempotency_key for alert in self.fired[position]}
        return [alert for alert in self.deduped[position] if alert.idempotency_key not in admitted]


def replay_alerts(articles: Sequence[TaggedArticle], rules: RuleSet) -> AlertReplay:
    """The three alert runs over `articles` (tagged, in publish order)."""
    def run(stream: Sequence[TaggedArticle], throttle: AlertThrottle | None) -> list[list[Alert]]:
        return [raised for _, raised in raised_alerts(stream, rules, throttle)]

    return AlertReplay(articles, every_wire_new=run([as_own_story(a) for a in articles], None),
                       deduped=run(articles, None), fired=run(articles, AlertThrottle({})))


def as_own_story(article: TaggedArticle) -> TaggedArticle:
    """`article` as if dedup had judged it the first article of a story of its own."""
    return TaggedArticle(article=article.article, verdict=DedupVerdict(kind="new", story_id=article.article.id),
                         entities=article.entities)


def busiest_day(raws: Sequence[dict]) -> str:
    """The publish day (YYYY-MM-DD) with most wires; the earliest of a tie, so the choice is the same every run."""
    per_day = Counter(raw["date"][:10] for raw in raws)
    return min(per_day, key=lambda day: (-per_day[day], day))


def alert_lines(article: TaggedArticle, alert: Alert, headlines: dict[str, str], held_by: str = "") -> list[str]:
    """One alert as the listing shows it: when, fired or held, rule, trigger and verdict, title and source; then why
    it fired (and, with `held_by`, which of the rule's limits held it back)."""
    lines = [f"  {article_time(article.article):%H:%M}  {'held' if held_by else 'fired':<6}{alert.rule_id:<8} "
             f"{alert.trigger} [{alert.verdict}]  {alert.title or '(no title)'} ({alert.source})"]
    why = [f"held back by its {held_by}" if held_by else "",
           f"entities {', '.join(alert.matched_entities)}" if alert.matched_entities else "",
           f"keywords {', '.join(alert.matched_keywords)}" if alert.matched_keywords else ""]
    if alert.trigger == "new_development":
        why.append(f"story of {headlines.get(alert.story_id, alert.story_id)!r}")
        sentence = alert.new_sentences[0]
        why.append(f"first new sentence: {sentence[:SENTENCE_CHARS]}{'…' if len(sentence) > SENTENCE_CHARS else ''}")
    lines.append("         why: " + "; ".join(part for part in why if part))
    return lines


def limits(rule: Rule) -> str:
    """The rule's cooldown and throttle in words, e.g. "cooldown 2h" or "throttle 3 per 12h"."""
    parts = [f"cooldown {_hours(rule.cooldown)}" if rule.cooldown else "",
             f"throttle {rule.throttle[0]} per {_hours(rule.throttle[1])}" if rule.throttle else ""]
    return ", ".join(part for part in parts if part)


def summary_lines(replay: AlertReplay, rules: RuleSet, wires: int) -> list[str]:
    """Wires, verdicts, alerts per rule and trigger in the three runs, the avoided counts and their definitions."""
    verdicts = Counter(article.verdict.kind for article in replay.articles)
    counts = {run: replay.counts(run) for run in RUNS}
    lines = [f"wires {wires}, articles after cleaning {len(replay.articles)}",
             "verdicts: " + ", ".join(f"{kind} {verdicts[kind]}" for kind in VERDICT_KINDS),
             "", f"  {'rule':<10}{'trigger':<18}" + "".join(f"{run:>16}" for run in RUNS)]
    for rule in rules:
        for trigger in ("new_story", "new_development"):
            if trigger in rule.triggers:
                lines.append(f"  {rule.id:<10}{trigger:<18}"
                             + "".join(f"{counts[run][rule.id, trigger]:>16}" for run in RUNS))
    lines.append(f"  {'all':<28}" + "".join(f"{sum(counts[run].values()):>16}" for run in RUNS))
    lines += ["", f"alerts avoided by dedup: {replay.avoided_by_dedup}",
              f"alerts avoided by throttling: {replay.avoided_by_throttling}", ""]
    return lines + list(DEFINITIONS)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--day", type=date.fromisoformat, help="publish day, YYYY-MM-DD (default: the busiest)")
    options.add_argument("--rules", type=Path, default=RULES, help="rules YAML (default: %(default)s)")
    args = options.parse_args()
    settings = Settings.from_env()
    rules = load_rules(args.rules, strict=True)
    every_wire = reuters_raw(10**9)  # exits with a clear message when the data set is absent
    day = args.day.isoformat() if args.day else busiest_day(every_wire)
    raws = [raw for raw in every_wire if raw["date"].startswith(day)]
    if not raws:
        sys.exit(f"no Reuters-21578 wire is dated {day}; they run from {every_wire[0]['date'][:10]} "
                 f"to {every_wire[-1]['date'][:10]}")
    articles = tag_articles(Tagger.from_settings(settings), judged_in_order(clean_reuters(settings, raws), settings))
    replay = replay_alerts(articles, rules)
    rule_by_id = {rule.id: rule for rule in rules}
    headlines = {article.article.id: article.article.title for article in articles}
    chosen = "chosen with --day" if args.day else "the day with most wires"
    print(f"Reuters-21578, {day} ({chosen}), {len(raws)} wires in publish order (UTC); rules {args.rules}")
    for position, article in enumerate(articles):
        for alert in replay.fired[position]:
            print("\n".join(alert_lines(article, alert, headlines)))
        for alert in replay.held(position):
            print("\n".join(alert_lines(article, alert, headlines, limits(rule_by_id[alert.rule_id]))))
    print()
    print("\n".join(summary_lines(replay, rules, len(raws))))


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds / 60:g}m"


if __name__ == "__main__":
    main()
