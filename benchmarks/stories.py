"""Story clustering on every development set in one run: wirewatch's dedup core next to the TF-IDF baseline.

    .venv/bin/python -m benchmarks.stories [--runs 5] [--no-reuters]

- Giveme5W1H dev (`../shared/data/giveme5w1h-dev`): 173 articles of 34 events from many outlets, in publish
  order, through the clean stage as `wirewatch process` reads them (`id, title, text, published, source`). Also
  the `new_story` alerts a rule matching everything raises per event: one per `new` verdict.
- ECB+ train+dev (`benchmarks.ecb_stories`): no titles, outlets or times; file order and the median of `--runs`
  shuffled orders (seeds 0..N-1).
- Reuters-21578 (all dated wires, publish order): no event labels, so the story sizes: how many stories, the
  largest ones with their first and last headline. Near-duplicates and corrections: `benchmarks.reuters_dedup`.
Printed for each labelled set: pairwise and B-cubed precision/recall/F1 and the number of stories, for wirewatch and
for the TF-IDF baseline (single pass, IDF over the whole set, centroid cosine) at its best threshold for that set,
given the same text (title and body as cleaned). ECB+ also prints the baseline at the threshold best in file order,
run on the shuffled orders.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from agents.clean.core import clean_article
from agents.dedup.in_memory import in_memory_index
from benchmarks import ecb_stories
from benchmarks.ecb_stories import HEADER, Scores, best_baseline, score, shuffled, tfidf_baseline
from benchmarks.reuters_reference import clean_reuters
from benchmarks.shared_data import SHARED_DATA, require
from streams.raw import raw_from_mapping
from streams.records import CleanArticle, DedupVerdict
from streams.settings import Settings

GIVEME = SHARED_DATA / "giveme5w1h-dev" / "news_cluster_dev.by_date.jsonl"


def giveme_articles(settings: Settings) -> tuple[list[CleanArticle], list[str]]:
    """The Giveme5W1H dev articles cleaned, in file (publish) order, and their event ids."""
    with open(require(GIVEME, "the shared Giveme5W1H dev set"), "rb") as lines:
        records = [orjson.loads(line) for line in lines if line.strip()]
    articles = []
    for record in records:
        raw = raw_from_mapping({"id": record["doc_id"], "title": record["title"], "text": record["text"],
                                "published": record["date_publish"], "source": record["source_domain"]},
                               max_bytes=settings.max_article_bytes)
        cleaned = clean_article(raw)
        if len(cleaned) != 1:
            raise SystemExit(f"{record['doc_id']} cleaned into {len(cleaned)} articles, expected 1")
        articles.extend(cleaned)
    return articles, [str(record["event_id"]) for record in records]


def judged(articles: Sequence[CleanArticle], settings: Settings) -> list[DedupVerdict]:
    """The verdicts of a fresh in-memory dedup core (the stream's rules) on `articles` in order."""
    index = in_memory_index(settings)
    return [index.judge(article) for article in articles]


def as_docs(articles: Sequence[CleanArticle], labels: Sequence[str]) -> list[dict[str, Any]]:
    """The articles as the baseline reads them: the text wirewatch sees (title and body)."""
    return [{"text": f"{a.title}\n{a.body}", "cluster_id": label} for a, label in zip(articles, labels)]


def row(name: str, scores: Scores, extra: str = "") -> str:
    p, b = scores.pairwise, scores.bcubed
    return (f"{name:<36} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f}   {b[0]:.3f} {b[1]:.3f} {b[2]:.3f}   "
            f"{scores.clusters:5d}  {extra}")


def giveme(settings: Settings) -> None:
    articles, events = giveme_articles(settings)
    started = time.perf_counter()
    verdicts = judged(articles, settings)
    rate = len(articles) / (time.perf_counter() - started)
    threshold, baseline, _ = best_baseline(as_docs(articles, events))
    body_threshold, body_baseline, _ = best_baseline(
        [{"text": a.body, "cluster_id": label} for a, label in zip(articles, events)])
    new_stories = sum(v.kind == "new" for v in verdicts)
    distinct = len(set(events))
    print(f"== Giveme5W1H dev: {len(articles)} articles, {distinct} events, publish order ==")
    print(HEADER.replace("stories  art/s", "stories"))
    print(row(f"TF-IDF baseline (threshold {threshold})", baseline))
    print(row(f"  the same on the body alone ({body_threshold})", body_baseline))
    print(row("wirewatch", score([v.story_id for v in verdicts], events), f"{rate:,.0f} art/s"))
    print(f"  new_story alerts of a rule matching everything: {new_stories} for {distinct} events = "
          f"{new_stories / distinct:.2f} per event; verdicts {dict(sorted(Counter(v.kind for v in verdicts).items()))}")


def ecb(settings: Settings, runs: int) -> None:
    docs = ecb_stories.load_docs()
    events = [d["cluster_id"] for d in docs]
    articles = [ecb_stories.clean_article(d) for d in docs]
    threshold, baseline, _ = best_baseline(docs)
    print(f"\n== ECB+ train+dev: {len(docs)} documents, {len(set(events))} events, file order ==")
    print(HEADER.replace("stories  art/s", "stories"))
    print(row(f"TF-IDF baseline (threshold {threshold})", baseline))
    print(row("wirewatch", score([v.story_id for v in judged(articles, settings)], events)))
    if not runs:
        return
    medians = {}
    for name, cluster in [(f"TF-IDF baseline (threshold {threshold})", tfidf_baseline(threshold)),
                          ("wirewatch", lambda order: [v.story_id for v in judged(
                              [ecb_stories.clean_article(d) for d in order], settings)])]:
        results = [score(cluster(order), [d["cluster_id"] for d in order])
                   for order in (shuffled(docs, seed) for seed in range(runs))]
        medians[name] = results
    print(f"  median of {runs} shuffled orders:")
    for name, results in medians.items():
        pairwise = [r.pairwise[2] for r in results]
        bcubed = [r.bcubed[2] for r in results]
        print(f"    {name:<36} pairwise F1 {statistics.median(pairwise):.3f} (min {min(pairwise):.3f}, max "
              f"{max(pairwise):.3f}), B-cubed F1 {statistics.median(bcubed):.3f}")
    own_best = [best_baseline(shuffled(docs, seed))[1].pairwise[2] for seed in range(runs)]
    print(f"    TF-IDF baseline at each order's own best threshold: pairwise F1 {statistics.median(own_best):.3f} "
          f"(min {min(own_best):.3f}, max {max(own_best):.3f})")


def reuters(settings: Settings, show: int = 5) -> None:
    articles = clean_reuters(settings)
    started = time.perf_counter()
    verdicts = judged(articles, settings)
    rate = len(articles) / (time.perf_counter() - started)
    sizes = Counter(v.story_id for v in verdicts)
    members: dict[str, list[CleanArticle]] = {}
    for article, verdict in zip(articles, verdicts):
        members.setdefault(verdict.story_id, []).append(article)
    long_lived = sum(1 for story in members.values()
                     if (story[-1].published - story[0].published).total_seconds() > 72 * 3600)  # type: ignore
    print(f"\n== Reuters-21578: {len(articles)} wires, publish order (no event labels) ==")
    print(f"  wirewatch: {len(sizes)} stories, {sum(n > 1 for n in sizes.values())} of more than one wire, "
          f"{long_lived} spanning more than 72 h; {rate:,.0f} art/s; verdicts "
          f"{dict(sorted(Counter(v.kind for v in verdicts).items()))}")
    print("  largest stories (wires, duplicates included): " + ", ".join(str(n) for _, n in sizes.most_common(show)))
    for story_id, size in sizes.most_common(show):
        story = members[story_id]
        print(f"    {size:4d}  {story[0].published:%Y-%m-%d} {story[0].title[:50]!r} … "
              f"{story[-1].published:%Y-%m-%d} {story[-1].title[:50]!r}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="shuffled ECB+ orders (0: file order only)")
    parser.add_argument("--no-reuters", action="store_true", help="skip the Reuters story sizes (about a minute)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    giveme(settings)
    ecb(settings, args.runs)
    if not args.no_reuters:
        reuters(settings)


if __name__ == "__main__":
    started_at = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started_at:.0f} s")
