"""Story clustering on ECB+ (../shared/data): the story ids wirewatch gives, scored against the events.

    .venv/bin/python -m benchmarks.ecb_stories [--runs N]

ECB+ has no publish times, so the stream order is the file order (topic by topic, the two events of a topic
interleaved); `--runs` shuffled orders (seeds 0..N-1) show the median. Each split (train, dev) is also run as a
stream of its own. Printed for each system: pairwise precision/recall/F1 over pairs of articles put in one story,
B-cubed precision/recall/F1, number of stories, and articles per second.

Systems: a TF-IDF cosine single-pass baseline (IDF over all documents, centroid cosine, best threshold of a grid),
wirewatch's dedup core (`in_memory_index`), and its story matcher alone (`agents.dedup.stories`). Last, a ceiling:
batch agglomerative clustering of the same words with the linkage and cut chosen on the labels.
"""
from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from spacy.lang.en.stop_words import STOP_WORDS

from agents.dedup.in_memory import in_memory_index
from agents.dedup.stories import CANDIDATE_TERMS, MatcherSettings, StoryMatcher, story_features
from benchmarks.shared_data import SHARED_DATA, require
from streams.records import CleanArticle
from streams.settings import Settings
from streams.times import article_time

ECBPLUS = SHARED_DATA / "ecbplus" / "ecbplus_docs.jsonl"
BASELINE_THRESHOLDS = [round(0.1 + 0.05 * i, 2) for i in range(9)]  # 0.10 … 0.50
_BASELINE_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern

Labels = list[str]
Clusterer = Callable[[Sequence[dict[str, Any]]], Labels]


@dataclass(frozen=True)
class Scores:
    """One clustering scored against the gold events."""

    pairwise: tuple[float, float, float]  # precision, recall, F1
    bcubed: tuple[float, float, float]
    clusters: int


# ---- scoring (pure) ----

def pairwise_scores(predicted: Sequence[str], gold: Sequence[str]) -> tuple[float, float, float]:
    """Pairwise precision, recall, F1 over unordered pairs of items placed in one cluster."""
    both = _pairs(Counter(zip(predicted, gold)).values())
    in_predicted, in_gold = _pairs(Counter(predicted).values()), _pairs(Counter(gold).values())
    precision = both / in_predicted if in_predicted else 1.0
    recall = both / in_gold if in_gold else 1.0
    return precision, recall, _f1(precision, recall)


def bcubed_scores(predicted: Sequence[str], gold: Sequence[str]) -> tuple[float, float, float]:
    """B-cubed precision, recall, F1: per item, the share of its cluster that is in its gold class, and back."""
    overlap = Counter(zip(predicted, gold))
    predicted_sizes, gold_sizes = Counter(predicted), Counter(gold)
    precision = sum(overlap[(p, g)] / predicted_sizes[p] for p, g in zip(predicted, gold)) / len(gold)
    recall = sum(overlap[(p, g)] / gold_sizes[g] for p, g in zip(predicted, gold)) / len(gold)
    return precision, recall, _f1(precision, recall)


def score(predicted: Sequence[str], gold: Sequence[str]) -> Scores:
    """Pairwise and B-cubed scores and the number of predicted clusters."""
    return Scores(pairwise_scores(predicted, gold), bcubed_scores(predicted, gold), len(set(predicted)))


def _pairs(sizes: Iterator[int] | Any) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


# ---- data ----

def load_docs() -> list[dict[str, Any]]:
    """The ECB+ documents in file order (exits with a clear message when the shared data is absent)."""
    with open(require(ECBPLUS, "the shared ECB+ data set"), "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def clean_article(doc: dict[str, Any]) -> CleanArticle:
    """An ECB+ document as the clean stage would emit it: no title, source or publish time; a sentence a paragraph."""
    return CleanArticle(id=doc["doc_id"], title="", paragraphs=list(doc["sentences"]), source=None, published=None)


# ---- the three systems ----

def tfidf_baseline(threshold: float) -> Clusterer:
    """Single-pass clustering by TF-IDF cosine to cluster centroids (IDF fitted on all the documents given)."""
    def cluster(docs: Sequence[dict[str, Any]]) -> Labels:
        vectors = _tfidf_matrix([d["text"] for d in docs])
        centroids: list[np.ndarray] = []
        labels: Labels = []
        for i in range(vectors.shape[0]):
            row = vectors.getrow(i)
            best, similarity = _best_centroid(centroids, row)
            if best is not None and similarity >= threshold:
                centroids[best] = centroids[best] + row.toarray()[0]
                labels.append(f"c{best}")
            else:
                centroids.append(row.toarray()[0])
                labels.append(f"c{len(centroids) - 1}")
        return labels
    return cluster


def _tfidf_matrix(texts: Sequence[str]) -> sparse.csr_matrix:
    """Raw counts × smooth IDF, rows of unit length (scikit-learn's TfidfVectorizer defaults, English stop words)."""
    counts = [Counter(t for t in _BASELINE_TOKEN.findall(text.lower()) if t not in STOP_WORDS) for text in texts]
    vocabulary = {t: i for i, t in enumerate(sorted({t for c in counts for t in c}))}
    frequency = Counter(t for c in counts for t in c)
    idf = {t: math.log((1 + len(texts)) / (1 + frequency[t])) + 1 for t in vocabulary}
    rows, cols, values = [], [], []
    for i, c in enumerate(counts):
        weights = {t: n * idf[t] for t, n in c.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for t, w in weights.items():
            rows.append(i)
            cols.append(vocabulary[t])
            values.append(w / norm)
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(texts), len(vocabulary)))


def _best_centroid(centroids: list[np.ndarray], row: sparse.csr_matrix) -> tuple[int | None, float]:
    if not centroids:
        return None, 0.0
    matrix = np.vstack(centroids)
    similarities = (matrix[:, row.indices] @ row.data) / np.linalg.norm(matrix, axis=1)
    best = int(similarities.argmax())
    return best, float(similarities[best])


def current_dedup(docs: Sequence[dict[str, Any]]) -> Labels:
    """The story ids the dedup core gives today."""
    index = in_memory_index(Settings.from_env())
    return [index.judge(clean_article(d)).story_id for d in docs]


def story_matcher(max_terms: int = CANDIDATE_TERMS, **overrides: Any) -> Clusterer:
    """The story matcher, features computed as in the stream: an article joins the matched story or starts one."""
    def cluster(docs: Sequence[dict[str, Any]]) -> Labels:
        return run_matcher(docs, StoryMatcher({}, {}, MatcherSettings(**overrides)), max_terms)
    return cluster


def run_matcher(docs: Sequence[dict[str, Any]], matcher: StoryMatcher, max_terms: int = CANDIDATE_TERMS) -> Labels:
    """Story ids from `matcher` for `docs` in order."""
    return [_fold(matcher, clean_article(doc), position, max_terms) for position, doc in enumerate(docs)]


# ---- running ----

def timed(clusterer: Clusterer, docs: Sequence[dict[str, Any]]) -> tuple[Scores, float]:
    """Scores of `clusterer` on `docs` and its articles per second."""
    start = time.perf_counter()
    labels = clusterer(docs)
    elapsed = time.perf_counter() - start
    return score(labels, [d["cluster_id"] for d in docs]), len(docs) / elapsed


def shuffled(docs: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    order = list(docs)
    random.Random(seed).shuffle(order)
    return order


def best_baseline(docs: Sequence[dict[str, Any]]) -> tuple[float, Scores, float]:
    """(threshold, scores, articles/s) of the baseline threshold with the best pairwise F1 on `docs`."""
    results = [(t, *timed(tfidf_baseline(t), docs)) for t in BASELINE_THRESHOLDS]
    return max(results, key=lambda r: (r[1].pairwise[2], -r[0]))


def _row(name: str, scores: Scores, rate: float | None = None) -> str:
    p, b = scores.pairwise, scores.bcubed
    speed = f"{rate:9,.0f}" if rate is not None else " " * 9
    return (f"{name:<34} {p[0]:.3f} {p[1]:.3f} {p[2]:.3f}   {b[0]:.3f} {b[1]:.3f} {b[2]:.3f}   "
            f"{scores.clusters:4d} {speed}")


HEADER = f"{'':<34} pairwise P/R/F1        B-cubed P/R/F1   stories  art/s"


def report_order(docs: Sequence[dict[str, Any]], runs: int) -> None:
    """The three systems in file order, then the median pairwise F1 over shuffled orders."""
    threshold, baseline, rate = best_baseline(docs)
    print(HEADER)
    print(_row(f"TF-IDF baseline (threshold {threshold})", baseline, rate))
    print(_row("wirewatch dedup", *timed(current_dedup, docs)))
    print(_row("story matcher", *timed(story_matcher(), docs)))
    if runs:
        orders = [shuffled(docs, seed) for seed in range(runs)]
        for name, clusterer in [(f"TF-IDF baseline (threshold {threshold})", tfidf_baseline(threshold)),
                                ("wirewatch dedup", current_dedup), ("story matcher", story_matcher())]:
            f1s = [timed(clusterer, order)[0].pairwise[2] for order in orders]
            print(f"  shuffled x{runs}, {name}: median pairwise F1 {statistics.median(f1s):.3f} "
                  f"(min {min(f1s):.3f}, max {max(f1s):.3f})")


def sensitivity(docs_by_split: dict[str, list[dict[str, Any]]]) -> None:
    """Pairwise F1 of the matcher over a neighbourhood of each parameter (others at their defaults)."""
    defaults = MatcherSettings()
    grid: list[tuple[str, list[Any]]] = [
        ("match_threshold", [0.15, 0.175, defaults.match_threshold, 0.225, 0.25]),
        ("names_share", [0.0, defaults.names_share, 0.5]),
        ("centroid_terms", [40, defaults.centroid_terms, 100]),
        ("max_terms", [32, CANDIDATE_TERMS, 48]),
    ]
    print("\nsensitivity (pairwise F1, file order; each split its own stream):")
    print(f"{'parameter':<18} {'value':>6}   " + "   ".join(f"{s:>8}" for s in docs_by_split))
    for name, values in grid:
        for value in values:
            clusterer = story_matcher(**{name: value})
            f1s = [timed(clusterer, docs)[0].pairwise[2] for docs in docs_by_split.values()]
            print(f"{name:<18} {value:>6}   " + "   ".join(f"{f:8.3f}" for f in f1s))


def state_size(docs: Sequence[dict[str, Any]]) -> None:
    """Key writes per article and the size of the state the matcher stores after the whole stream."""
    stored_docs, stories = CountingMap(), CountingMap()
    matcher = StoryMatcher(stored_docs, stories)
    per_article = []
    for position, doc in enumerate(docs):
        before = stored_docs.writes + stories.writes
        _fold(matcher, clean_article(doc), position)
        per_article.append(stored_docs.writes + stories.writes - before)
    story_bytes = [len(orjson.dumps(v)) + len(k) for k, v in stories.items()]
    doc_bytes = [len(orjson.dumps(v)) + len(k) for k, v in stored_docs.items()]
    print(f"\nstate: {statistics.mean(per_article):.1f} key writes per article (max {max(per_article)}); "
          f"{len(stories)} stories, {statistics.mean(story_bytes):,.0f} bytes per story on average "
          f"(max {max(story_bytes):,}); {statistics.mean(doc_bytes):,.0f} bytes per article's terms")


class CountingMap(dict):  # type: ignore[type-arg]
    """A dict that counts assignments."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def feature_speed(docs: Sequence[dict[str, Any]]) -> None:
    """CPU per article of the matcher: features, then match + add, on file order."""
    articles = [clean_article(d) for d in docs]
    start = time.process_time()
    features = [story_features(a) for a in articles]
    middle = time.process_time()
    matcher = StoryMatcher({}, {})
    for position, (article, feature) in enumerate(zip(articles, features)):
        matched = matcher.match(feature, None)
        matcher.add(matched[0] if matched else article.id, article.id, feature, None, article_time(article),
                    order=position)
    end = time.process_time()
    print(f"\nmatcher CPU per article: features {1e3 * (middle - start) / len(docs):.3f} ms, "
          f"match + add {1e3 * (end - middle) / len(docs):.3f} ms")


def _fold(matcher: StoryMatcher, article: CleanArticle, position: int, max_terms: int = CANDIDATE_TERMS) -> str:
    """Match the article and add it to its story (the matched one, else its own); returns the story id."""
    features = story_features(article, max_terms)
    matched = matcher.match(features, article.published)
    story_id = matched[0] if matched else article.id
    matcher.add(story_id, article.id, features, article.published, article_time(article), order=position)
    return story_id


_MID_SENTENCE_CAPITAL = re.compile(r"(?<=[A-Za-z0-9,;)])\s+([A-Z][\w'-]*)")
_NUMBER = re.compile(r"\b\d[\d.,]*\b")


def ceiling(docs: Sequence[dict[str, Any]]) -> None:
    """The best batch clustering of these words, threshold and linkage picked with the labels: an upper bound.

    Agglomerative clustering sees every document at once, and here it is also told which cut scores best. Vectors:
    document TF-IDF, and that joined with a names channel (mid-sentence capitals and numbers) at several weights.
    """
    gold = [d["cluster_id"] for d in docs]
    words = _tfidf_matrix([d["text"] for d in docs]).toarray()
    names = _tfidf_matrix([" ".join(_MID_SENTENCE_CAPITAL.findall(d["text"]) + _NUMBER.findall(d["text"]))
                           for d in docs]).toarray()
    best: tuple[float, str] = (0.0, "")
    for share in (0.0, 0.3, 0.5):
        vectors = np.hstack([math.sqrt(1 - share) * words, math.sqrt(share) * names])
        distances = np.nan_to_num(pdist(vectors, "cosine"), nan=1.0)
        for method in ("average", "complete", "weighted"):
            tree = linkage(distances, method)
            for cut in np.arange(0.30, 1.0, 0.02):
                f1 = pairwise_scores(list(fcluster(tree, cut, "distance")), gold)[2]
                best = max(best, (f1, f"{method} linkage, names share {share}, cut {cut:.2f}"))
    print(f"\nceiling: batch clustering tuned on the labels reaches pairwise F1 {best[0]:.3f} ({best[1]})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="shuffled orders to report the median of (0: none)")
    args = parser.parse_args(argv)
    docs = load_docs()
    by_split = {"train": [d for d in docs if d["split"] == "train"], "dev": [d for d in docs if d["split"] == "dev"]}
    print(f"ECB+ {len(docs)} documents, {len({d['cluster_id'] for d in docs})} events; stream order = file order\n")
    print("== all documents ==")
    report_order(docs, args.runs)
    for split, split_docs in by_split.items():
        print(f"\n== {split} only ({len(split_docs)} documents) ==")
        report_order(split_docs, 0)
    sensitivity({"train": by_split["train"], "dev": by_split["dev"], "all": docs})
    state_size(docs)
    feature_speed(docs)
    ceiling(docs)


if __name__ == "__main__":
    main()
