"""Articles/s per core of the dedup core with its index holding 100k articles; bytes per indexed article; peak RSS.

    .venv/bin/python -m benchmarks.dedup_speed [--indexed 100000] [--stream 3000] [--runs 3] [--seed 1987]

Reuters-21578 has ~20k usable wires, so the index is pre-filled with synthetic articles made of real sentences:
each takes the paragraph and sentence counts and the title of a random Reuters wire (not one of the timed
stream) and fills every sentence slot with a sentence drawn at random from all those wires' sentences (fixed
seed). Synthetic articles get one of 50 made-up sources and publish times spread evenly over the 6 days before the
stream, so all stay inside the 7-day retention. Then the first `--stream` real wires in publish order (with their
natural duplicates and follow-ups) are judged against a copy of that index, their times compressed into 24 hours
after the synthetic ones (order kept): a 100k-article week is ~14k articles a day, far denser than Reuters.
"""
from __future__ import annotations

import argparse
import copy
import random
import re
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from agents.dedup.in_memory import in_memory_index
from agents.dedup.sentences import split_sentences
from benchmarks.reuters_dedup import dedup_version
from benchmarks.reuters_reference import clean_reuters
from streams.records import CleanArticle
from streams.settings import Settings

SOURCES = 50
FILL_SPAN = timedelta(days=6)
STREAM_SPAN = timedelta(hours=24)
FILL_CHUNK = 10_000  # pre-fill speed is reported per chunk: how judging slows as the index grows
_WORD = re.compile(r"\w+")


def sentence_layout(article: CleanArticle) -> list[int]:
    """Sentences per paragraph of an article (paragraphs with no sentence count as one)."""
    return [max(1, len(split_sentences(p))) for p in article.paragraphs]


def synthetic_articles(models: Sequence[CleanArticle], count: int, seed: int, start: datetime,
                       span: timedelta) -> list[CleanArticle]:
    """`count` distinct articles built from the sentences of `models`, published evenly over [start, start + span).

    Each copies a random model's title and paragraph/sentence layout; every sentence is drawn from any model.
    """
    pool = [s for m in models for p in m.paragraphs for s in split_sentences(p) if len(_WORD.findall(s)) >= 4]
    chooser = random.Random(seed)
    made = []
    for number in range(count):
        model = chooser.choice(models)
        paragraphs = [" ".join(chooser.choice(pool) for _ in range(n)) for n in sentence_layout(model)]
        published = start + span * (number / count)
        made.append(CleanArticle(id=f"synthetic-{number}", title=model.title, paragraphs=paragraphs,
                                 source=f"outlet-{chooser.randrange(SOURCES):02d}", published=published,
                                 language="en", ingested_at=published.timestamp()))
    return made


def retimed(articles: Sequence[CleanArticle], start: datetime, span: timedelta) -> list[CleanArticle]:
    """The articles with publish times mapped linearly onto [start, start + span], order and proportions kept."""
    first, last = articles[0].published, articles[-1].published
    whole = (last - first) or timedelta(seconds=1)  # type: ignore[operator]
    moved = []
    for article in articles:
        published = start + span * ((article.published - first) / whole)  # type: ignore[operator]
        moved.append(CleanArticle(**{**article.asdict(), "published": published,
                                     "ingested_at": published.timestamp()}))
    return moved


def index_tables(index: Any) -> dict[str, Mapping]:
    """The index's mappings by name: its `tables` attribute when it has one, else its Mapping attributes."""
    tables = getattr(index, "tables", None)
    if isinstance(tables, Mapping):
        return dict(tables)
    return {name: value for name, value in vars(index).items() if isinstance(value, Mapping)}


def table_bytes(tables: Mapping[str, Mapping]) -> dict[str, int]:
    """Per table, the bytes a Faust table would store: utf-8 keys plus orjson-serialised values."""
    def key_bytes(key: object) -> int:
        return len(key.encode()) if isinstance(key, str) else len(orjson.dumps(key))

    return {name: sum(key_bytes(k) + len(orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY)) for k, v in table.items())
            for name, table in tables.items()}


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--indexed", type=int, default=100_000, help="articles in the index before timing")
    options.add_argument("--stream", type=int, default=3000, help="real wires judged against it")
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--seed", type=int, default=1987)
    args = options.parse_args()
    settings = Settings.from_env()
    articles = clean_reuters(settings)
    stream, models = articles[:args.stream], articles[args.stream:]
    stream_start = stream[0].published
    fill = synthetic_articles(models, args.indexed, args.seed, stream_start - FILL_SPAN, FILL_SPAN)
    stream = retimed(stream, stream_start, STREAM_SPAN)
    loaded_rss = _peak_rss_mib()

    index = in_memory_index(settings)
    fill_kinds, rates = Counter(), []
    started = time.perf_counter()
    for chunk in range(0, len(fill), FILL_CHUNK):
        chunk_started = time.perf_counter()
        fill_kinds.update(index.judge(a).kind for a in fill[chunk:chunk + FILL_CHUNK])
        rates.append((chunk, len(fill[chunk:chunk + FILL_CHUNK]) / (time.perf_counter() - chunk_started)))
        print(f"  pre-fill: index at {chunk} articles: {rates[-1][1]:.0f} articles/s", file=sys.stderr, flush=True)
    fill_seconds = time.perf_counter() - started
    filled_rss = _peak_rss_mib()
    sizes = table_bytes(index_tables(index))

    seconds, cpu, kinds = [], [], Counter()
    for _ in range(args.runs):
        run_index = copy.deepcopy(index)  # every run meets the same 100k-article index
        wall, started_cpu = time.perf_counter(), time.process_time()
        kinds = Counter(run_index.judge(a).kind for a in stream)
        seconds.append(time.perf_counter() - wall)
        cpu.append(time.process_time() - started_cpu)
        del run_index

    print(f"dedup core, index pre-filled with {args.indexed} synthetic articles (seed {args.seed}), then "
          f"{len(stream)} real Reuters wires timed; dedup sources {dedup_version()}")
    print(f"  pre-fill: {args.indexed / fill_seconds:.0f} articles/s while the index grows 0 → {args.indexed}; "
          f"verdicts {dict(sorted(fill_kinds.items()))}")
    print("  pre-fill articles/s by index size: " + ", ".join(f"{size // 1000}k {rate:.0f}" for size, rate in rates))
    print(f"  stream: {len(stream) / statistics.median(seconds):.0f} articles/s per core (median of {args.runs} runs, "
          f"wall; CPU time gives {len(stream) / statistics.median(cpu):.0f}); verdicts {dict(sorted(kinds.items()))}")
    total = sum(sizes.values())
    print(f"  index as Faust tables would store it: {total / 2**20:.0f} MiB for {args.indexed} articles = "
          f"{total / args.indexed:.0f} bytes per indexed article")
    print("    by table: " + ", ".join(f"{name} {size / args.indexed:.0f}" for name, size in sizes.items()))
    print(f"  peak RSS: {loaded_rss:.0f} MiB with the data loaded, {filled_rss:.0f} MiB with the index filled "
          f"(+{filled_rss - loaded_rss:.0f} MiB), {_peak_rss_mib():.0f} MiB at the end (one index copy per run)")


if __name__ == "__main__":
    started_at = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started_at:.0f} s")
