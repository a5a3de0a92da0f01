"""Articles/s of each stage's pure core on Reuters-21578, median of several runs, and peak memory.

    .venv/bin/python -m benchmarks.stage_cores [--articles 2000] [--runs 3]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable

from agents.alert.core import AlertLedger, alerts_for
from agents.alert.facts import StoryFacts
from agents.clean.core import clean_article
from agents.dedup.in_memory import in_memory_index
from agents.rules.ruleset import load_rules
from agents.tag.core import Tagger, tag_articles
from agents.tag.lexicon import Lexicon
from agents.tag.model import load_ner
from benchmarks.reuters import reuters_raw
from streams.raw import raw_from_mapping
from streams.records import DedupedArticle
from streams.settings import Settings


def timed(work: Callable[[], object], runs: int,
          clock: Callable[[], float] = time.perf_counter) -> tuple[float, object]:
    """Median seconds (wall, or CPU with `clock=time.process_time`) of `runs` calls of `work`, and the last result."""
    seconds, result = [], None
    for _ in range(runs):
        started = clock()
        result = work()
        seconds.append(clock() - started)
    return statistics.median(seconds), result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=2000)
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    settings = Settings.from_env()
    raws = [raw_from_mapping(r, max_bytes=settings.max_article_bytes) for r in reuters_raw(args.articles)]
    n = len(raws)

    clean_s, cleaned = timed(lambda: [a for raw in raws for a in clean_article(raw)], args.runs)
    dedup_s, deduped = timed(lambda: _dedup(cleaned, settings), args.runs)
    nlp = load_ner(settings.spacy_model)
    lexicon = Lexicon.from_file(settings.aliases_file)
    tag_s, tagged = timed(lambda: tag_articles(Tagger(nlp, lexicon, settings.tag_batch_size), deduped), args.runs)
    pipe_s, _ = timed(lambda: list(nlp.pipe([d.article.full_text for d in deduped], batch_size=settings.tag_batch_size)),
                      args.runs)
    rules = load_rules(settings.rules_file)
    alert_s, _ = timed(lambda: _alert(tagged, rules), args.runs)

    verdicts = {kind: sum(d.verdict.kind == kind for d in deduped) for kind in ("new", "duplicate", "update", "same_story")}
    print(f"Reuters-21578, first {n} wires by date, median of {args.runs} runs, one process")
    for stage, seconds in [("clean", clean_s), ("dedup", dedup_s), ("tag", tag_s), ("plain nlp.pipe", pipe_s),
                           ("alert", alert_s)]:
        print(f"  {stage:15} {n / seconds:9.0f} articles/s")
    print(f"  tag / plain nlp.pipe throughput ratio: {pipe_s / tag_s:.2f} (repeated paragraphs skip the model)")
    print(f"  verdicts: {verdicts}")
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def _dedup(cleaned: list, settings: Settings) -> list[DedupedArticle]:
    index = in_memory_index(settings)
    return [DedupedArticle(article=a, verdict=index.judge(a)) for a in cleaned]


def _alert(tagged: list, rules: object) -> int:
    ledger, stories, raised = AlertLedger({}), StoryFacts({}), 0
    for alert in (a for t in tagged for a in alerts_for(t, rules, stories, now=0.0)):
        if ledger.pending(alert, ["topic"]):
            ledger.mark_delivered(alert, "topic", alert.created_at)
            raised += 1
    return raised


if __name__ == "__main__":
    main()
