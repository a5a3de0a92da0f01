"""Throughput of the tagger against plain `nlp.pipe` on real newswire: what normalisation costs on top of NER.

    .venv/bin/python benchmarks/tag_throughput.py [--articles 2000] [--runs 3] [--data PATH]

Both sides use the same pipeline (`load_ner(settings.spacy_model)`), the same texts and `settings.tag_batch_size`;
figures are medians of `--runs` runs after one warm-up batch. Each tagger run starts with an empty paragraph memory,
so this is the cost of new text (the stage benchmark measures what reuse saves).
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from spacy.language import Language

from agents.tag.core import Tagger
from agents.tag.model import load_ner
from agents.tag.lexicon import Lexicon
from benchmarks.shared_data import REUTERS
from streams.settings import Settings



def reuters_bodies(path: Path, limit: int) -> list[str]:
    """The first `limit` non-empty Reuters-21578 bodies, as given."""
    bodies: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            body = json.loads(line).get("body") or ""
            if body.strip():
                bodies.append(body)
                if len(bodies) == limit:
                    break
    return bodies


def plain_pipe(nlp: Language, texts: Sequence[str], batch_size: int) -> None:
    """The baseline: NER alone, reading each doc's entity spans so both sides touch `doc.ents`."""
    for doc in nlp.pipe(texts, batch_size=batch_size):
        _ = [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def median_seconds(run: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls of `run`."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REUTERS)
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"skipped: needs {args.data} (the shared Reuters-21578 data set); it is not on this machine")
        return 0

    settings = Settings.from_env()
    texts = reuters_bodies(args.data, args.articles)
    words = sum(len(t.split()) for t in texts)
    nlp = load_ner(settings.spacy_model)
    lexicon = Lexicon.from_file(settings.aliases_file)
    batch = settings.tag_batch_size
    Tagger(nlp, lexicon, batch).tag(texts[:batch])  # warm-up

    plain = median_seconds(lambda: plain_pipe(nlp, texts, batch), args.runs)
    tagged = median_seconds(lambda: Tagger(nlp, lexicon, batch).tag(texts), args.runs)
    print(f"{len(texts)} Reuters bodies, {words} words; model {settings.spacy_model} pipes {nlp.pipe_names}; "
          f"batch {batch}; median of {args.runs} runs")
    for name, seconds in (("nlp.pipe", plain), ("tagger", tagged)):
        print(f"{name:>10}: {seconds:6.2f} s  {len(texts) / seconds:7.1f} articles/s  {words / seconds:9.0f} words/s")
    print(f"normalisation overhead: {100 * (tagged - plain) / plain:+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
