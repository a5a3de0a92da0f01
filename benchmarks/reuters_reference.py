"""Brute-force near-duplicate reference for Reuters-21578: exact word-5-shingle Jaccard over same-week pairs.

    .venv/bin/python -m benchmarks.reuters_reference [--force]

Every clean Reuters article (raw wire → `raw_from_mapping` → `clean_article`, replay order = publish time, then
NEWID) is compared with every *earlier* article of the same week. Same week: published at most 7 × 24 h before it
(inclusive) and before it in replay order. Shingles: `signatures.shingles` over `signatures.normalise` of the
cleaned body, as distinct sets. Exact: only pairs sharing no shingle are skipped (their Jaccard is 0), via a
sparse article × shingle matrix product per block of articles. The result is cached under
`{data_dir}/bench/` and recomputed only when the cleaned bodies or the parameters change.
"""
from __future__ import annotations

import argparse
import bisect
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from scipy import sparse

from agents.clean.core import clean_article
from agents.dedup import signatures
from benchmarks.reuters import reuters_raw
from streams.deadletter import BadInput
from streams.raw import raw_from_mapping
from streams.records import CleanArticle
from streams.settings import Settings

SAME_WEEK = timedelta(days=7)
KEEP_AT = 0.5     # partners at or above this Jaccard are stored (the evaluation looks at 0.8)
BLOCK = 512       # articles per sparse product: bounds the memory of one product
CACHE_NAME = "reuters_reference.json"


@dataclass(frozen=True)
class ReferenceEntry:
    """One article's earlier same-week partners: the best one (any Jaccard > 0) and all at J >= KEEP_AT."""

    id: str
    best: tuple[str, float] | None
    partners: tuple[tuple[str, float], ...]  # highest Jaccard first

    def partner_ids(self, at_least: float) -> set[str]:
        """Ids of the stored partners with Jaccard >= `at_least` (meaningful for `at_least` >= KEEP_AT)."""
        return {i for i, j in self.partners if j >= at_least}


def clean_reuters(settings: Settings, raws: Sequence[dict] | None = None) -> list[CleanArticle]:
    """`raws` (default: every dated Reuters wire with a body) cleaned, in replay order; a wire may give versions."""
    articles: list[CleanArticle] = []
    for raw in reuters_raw(10**9) if raws is None else raws:
        try:
            articles.extend(clean_article(raw_from_mapping(raw, max_bytes=settings.max_article_bytes)))
        except BadInput:
            continue  # nothing left after cleaning: dedup never sees it either
    return articles


def published_time(article: CleanArticle) -> datetime:
    """`article`'s publish time; the benchmark corpora date every article, so a missing one is a broken corpus."""
    if article.published is None:
        raise ValueError(f"article {article.id} has no publish time; the benchmarks need one for every article")
    return article.published


def shingle_set(body: str) -> frozenset[bytes]:
    """The distinct word 5-shingles dedup estimates Jaccard over, from a clean body."""
    return frozenset(signatures.shingles(signatures.normalise(body).split()))


def jaccard(a: frozenset | set, b: frozenset | set) -> float:
    """Exact Jaccard of two sets; 0.0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def window_starts(times: Sequence[datetime], window: timedelta = SAME_WEEK) -> list[int]:
    """For each position i of ascending `times`, the first position whose time is >= times[i] - window."""
    return [bisect.bisect_left(times, t - window) for t in times]


def same_week_pairs(sets: Sequence[frozenset], times: Sequence[datetime], window: timedelta = SAME_WEEK,
                    block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (later i, earlier j) with j < i, times[i] - times[j] <= window and Jaccard > 0, as arrays (i, j, J).

    `times` must ascend. Exact: intersections come from a sparse product, sizes from the sets themselves.
    """
    vocabulary: dict[bytes, int] = {}
    rows = [np.fromiter((vocabulary.setdefault(s, len(vocabulary)) for s in shingle_set_), dtype=np.int64)
            for shingle_set_ in sets]
    sizes = np.array([len(r) for r in rows], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    columns = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    matrix = sparse.csr_matrix((np.ones(len(columns), dtype=np.int32), columns, indptr),
                               shape=(len(sets), max(len(vocabulary), 1)))
    seconds = np.array([t.timestamp() for t in times], dtype=np.float64)
    starts = window_starts(list(times), window)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for a in range(0, len(sets), block):
        b = min(a + block, len(sets))
        w = starts[a]
        product = (matrix[a:b] @ matrix[w:b].T).tocoo()
        i, j, shared = product.row + a, product.col + w, product.data.astype(np.int64)
        keep = (j < i) & (seconds[i] - seconds[j] <= window.total_seconds())
        i, j, shared = i[keep], j[keep], shared[keep]
        found.append((i, j, shared / (sizes[i] + sizes[j] - shared)))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    later, earlier, similarity = zip(*found, strict=True)
    return np.concatenate(later), np.concatenate(earlier), np.concatenate(similarity)


def reference_entries(ids: Sequence[str], pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
                      keep_at: float = KEEP_AT) -> list[ReferenceEntry]:
    """Per article: its best earlier partner (highest Jaccard, the earliest on ties) and partners at >= keep_at."""
    later, earlier, similarity = pairs
    order = np.lexsort((earlier, -similarity, later))  # by article, then highest J, then earliest partner
    best: dict[int, tuple[str, float]] = {}
    partners: dict[int, list[tuple[str, float]]] = {}
    for i, j, s in zip(later[order].tolist(), earlier[order].tolist(), similarity[order].tolist(), strict=True):
        best.setdefault(i, (ids[j], round(s, 6)))
        if s >= keep_at:
            partners.setdefault(i, []).append((ids[j], round(s, 6)))
    return [ReferenceEntry(article_id, best.get(n), tuple(partners.get(n, ()))) for n, article_id in enumerate(ids)]


def cache_key(articles: Sequence[CleanArticle]) -> str:
    """A hash of what the reference depends on: ids, publish times, normalised bodies and the parameters."""
    digest = hashlib.sha256(f"{SAME_WEEK}|{KEEP_AT}|{signatures.SHINGLE_SIZE}".encode())
    for article in articles:
        digest.update(f"{article.id}|{article.published}|".encode())
        digest.update(signatures.normalise(article.body).encode())
    return digest.hexdigest()


def load_reference(articles: Sequence[CleanArticle], data_dir: Path, force: bool = False) -> list[ReferenceEntry]:
    """The reference for `articles` (in replay order), from the cache when it was computed for the same input."""
    path = data_dir / "bench" / CACHE_NAME
    key = cache_key(articles)
    if path.exists() and not force:
        cached = orjson.loads(path.read_bytes())
        if cached.get("key") == key:
            return [ReferenceEntry(e["id"], tuple(e["best"]) if e["best"] else None,
                                   tuple(tuple(p) for p in e["partners"])) for e in cached["entries"]]
    times = [published_time(a) for a in articles]
    sets = [shingle_set(a.body) for a in articles]
    entries = reference_entries([a.id for a in articles], same_week_pairs(sets, times))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"key": key, "window_hours": SAME_WEEK.total_seconds() / 3600, "keep_at": KEEP_AT,
                                   "entries": [{"id": e.id, "best": e.best, "partners": e.partners}
                                               for e in entries]}))
    return entries


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--force", action="store_true", help="recompute even when the cache matches")
    args = options.parse_args()
    settings = Settings.from_env()
    started = time.perf_counter()
    articles = clean_reuters(settings)
    cleaned = time.perf_counter()
    entries = load_reference(articles, settings.data_dir, force=args.force)
    done = time.perf_counter()
    with_partner = [e for e in entries if e.best]
    bests = [e.best for e in with_partner if e.best]
    print(f"{len(articles)} clean articles; cleaned in {cleaned - started:.1f} s, reference in {done - cleaned:.1f} s "
          f"({settings.data_dir / 'bench' / CACHE_NAME})")
    print(f"  with an earlier same-week partner sharing a 5-shingle: {len(with_partner)}")
    for at in (0.5, 0.8, 0.9, 1.0):
        print(f"  best earlier same-week partner at J >= {at}: {sum(best >= at for _, best in bests)}")


if __name__ == "__main__":
    main()
