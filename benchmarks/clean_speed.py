"""Articles/s of `clean_article` on Reuters-21578 wire copy, on one core, median of several runs; peak memory.

    .venv/bin/python -m benchmarks.clean_speed [--articles 5000] [--runs 3]
"""
from __future__ import annotations

import argparse
import gzip
import resource
import statistics
import time
import tracemalloc

import orjson

from agents.clean.core import clean_article
from agents.clean.language import detect_language
from benchmarks.shared_data import REUTERS, require
from streams.raw import raw_from_mapping
from streams.records import RawArticle


def wire_raws(limit: int) -> list[RawArticle]:
    """The first `limit` Reuters records with a body, as ingest reads them (title, body, dateline, date)."""
    raws: list[RawArticle] = []
    with gzip.open(require(REUTERS, "the shared Reuters-21578 data set"), "rb") as lines:
        for record in map(orjson.loads, lines):
            if record.get("body"):
                raws.append(raw_from_mapping(record, max_bytes=1_000_000))
                if len(raws) == limit:
                    break
    return raws


def clean_all(raws: list[RawArticle]) -> int:
    return sum(len(clean_article(raw)) for raw in raws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    raws = wire_raws(args.articles)
    detect_language("warm up the language model once, as a long-running worker would have it loaded " * 3)
    seconds = []
    for _ in range(args.runs):
        started = time.process_time()  # CPU time of this one thread: articles per second per core
        clean_all(raws)
        seconds.append(time.process_time() - started)
    median = statistics.median(seconds)
    tracemalloc.start()
    clean_all(raws)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"clean_article on {len(raws)} Reuters wires, median of {args.runs} runs: "
          f"{len(raws) / median:,.0f} articles/s per core ({median * 1000 / len(raws):.3f} ms each)")
    print(f"peak memory: {traced_peak / 2**20:.1f} MiB allocated while cleaning (tracemalloc), "
          f"process max RSS {max_rss:.0f} MiB (input and language model included)")


if __name__ == "__main__":
    main()
