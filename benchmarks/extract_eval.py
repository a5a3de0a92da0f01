"""Body-text extraction from whole HTML pages: the clean stage against plain trafilatura, scored like the
article-extraction-benchmark (scrapinghub), plus pages/s of each.

    .venv/bin/python -m benchmarks.extract_eval [--runs 3]

The metric follows the benchmark's evaluate.py: tokens are `\\w+` (case kept), a text is the multiset of its
4-token shingles (a text of fewer than 4 tokens is one shorter shingle); per document tp, fp and fn are counted
over the multisets and normalised to sum to 1; precision is averaged over documents with a non-empty prediction
(tp + fp > 0) and recall over documents with a non-empty truth (tp + fn > 0), so a document where both are empty
counts in neither average, and an empty prediction lowers recall only. F1 is the harmonic mean of the averages.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from agents.clean.core import clean_article
from benchmarks.shared_data import ZYTE_PAGES, require
from streams.deadletter import BadInput
from streams.records import RawArticle

_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of `n`-token shingles of `text`; a shorter non-empty text is one shingle."""
    tokens = _TOKEN.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)] if tokens else [])
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def matching(truth: str, prediction: str) -> tuple[float, float, float]:
    """tp, fp, fn over the two texts' shingles, normalised to sum to 1 (all 0 when both texts are empty)."""
    true, pred = shingles(truth), shingles(prediction)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(pairs: Iterable[tuple[str, str]]) -> Score:
    """The benchmark's score of (truth, prediction) pairs."""
    counts = [matching(truth, prediction) for truth, prediction in pairs]
    precision = statistics.mean([tp / (tp + fp) for tp, fp, _ in counts if tp + fp > 0] or [0.0])
    recall = statistics.mean([tp / (tp + fn) for tp, _, fn in counts if tp + fn > 0] or [0.0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1)


def load_pages(folder: Path = ZYTE_PAGES) -> dict[str, tuple[str, str]]:
    """id → (html, true body) for every page of the data set."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {}
    for page_id, record in sorted(truth.items()):
        raw = gzip.decompress((folder / "html" / f"{page_id}.html.gz").read_bytes())
        pages[page_id] = (raw.decode("utf-8", errors="replace"), record.get("articleBody") or "")
    return pages


def wirewatch_body(html: str) -> str:
    """The clean stage's body of a page (title excluded, as in the ground truth); empty when nothing is left."""
    try:
        articles = clean_article(RawArticle(html=html))
    except BadInput:
        return ""
    return "\n\n".join(paragraph for article in articles for paragraph in article.paragraphs)


def trafilatura_body(html: str) -> str:
    return trafilatura.extract(html) or ""


EXTRACTORS: dict[str, Callable[[str], str]] = {"wirewatch": wirewatch_body, "trafilatura": trafilatura_body}


def run(extract: Callable[[str], str], pages: dict[str, tuple[str, str]], runs: int) -> tuple[Score, float, dict]:
    """Score, pages/s of one core (CPU time, median of `runs`) and the predictions of `extract` on `pages`."""
    seconds, predictions = [], {}
    for _ in range(runs):
        # CPU time rather than wall time: pages/s per core, not disturbed by other work on the machine
        started = time.process_time()
        predictions = {page_id: extract(html) for page_id, (html, _) in pages.items()}
        seconds.append(time.process_time() - started)
    result = score((pages[page_id][1], predictions[page_id]) for page_id in pages)
    return result, len(pages) / statistics.median(seconds), predictions


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=3, help="timed runs per extractor (median is reported)")
    options.add_argument("--worst", type=int, default=0, help="also list the N pages where wirewatch scores lowest")
    args = options.parse_args()
    require(ZYTE_PAGES / "ground-truth.json", "the article-extraction-benchmark pages, ground-truth.json and html/")
    pages = load_pages()
    print(f"{len(pages)} pages from {ZYTE_PAGES}")
    results = {}
    for name, extract in EXTRACTORS.items():
        result, rate, predictions = run(extract, pages, args.runs)
        results[name] = predictions
        print(f"{name:<12} P={result.precision:.3f}  R={result.recall:.3f}  F1={result.f1:.3f}  "
              f"{rate:6.1f} pages/s per core (CPU time, median of {args.runs})")
    if args.worst:
        def page_f1(page_id: str, name: str) -> float:
            tp, fp, fn = matching(pages[page_id][1], results[name][page_id])
            return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        ranked = sorted(pages, key=lambda page_id: page_f1(page_id, "wirewatch"))[:args.worst]
        for page_id in ranked:
            _tp, fp, fn = matching(pages[page_id][1], results["wirewatch"][page_id])
            print(f"  {page_id[:12]} wirewatch F1={page_f1(page_id, 'wirewatch'):.3f} (fp {fp:.2f}, fn {fn:.2f})"
                  f"  trafilatura F1={page_f1(page_id, 'trafilatura'):.3f}")


if __name__ == "__main__":
    main()
