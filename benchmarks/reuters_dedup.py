"""Dedup verdicts on all of Reuters-21578 replayed in publish order, scored against the brute-force reference.

    .venv/bin/python -m benchmarks.reuters_dedup [--runs 3] [--at 0.8] [--show 10]

Prints (a) the groups of byte-identical raw bodies found, (b) precision and recall of `duplicate`/`update`
verdicts against exact same-week 5-shingle Jaccard (`benchmarks.reuters_reference`), with misses and false
positives, (c) how the `CORRECTED -` wires come out, (d) verdict counts and articles/s of the dedup core.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import agents.dedup as dedup_package
from agents.dedup import signatures
from agents.dedup.in_memory import in_memory_index
from benchmarks.reuters import reuters_raw
from benchmarks.reuters_reference import (SAME_WEEK, ReferenceEntry, clean_reuters, jaccard, load_reference,
                                          shingle_set, window_starts)
from benchmarks.stage_cores import timed
from streams.records import CleanArticle, DedupVerdict
from streams.settings import Settings

PREDICTED_KINDS = ("duplicate", "update")
# "CORRECTED - X", "(CORRECTED) - X", "<CORRECTED> - X", "CORRECTED-X": the 47 re-issues in Reuters-21578.
CORRECTION = re.compile(r"^\s*[(<]?CORRECTED[)>]?\s*-\s*")
MIN_TITLE_SHARE = 0.6   # a corrected wire's title holds at least this share of the correction's title words…
MIN_BODY_J = 0.5        # …or its body is at least this similar


@dataclass(frozen=True)
class Confusion:
    """Article-level counts of a binary verdict against a reference."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def confusion(actual: set[str], predicted: set[str]) -> Confusion:
    """Counts of predicted positives that are (tp) or are not (fp) actual positives, and actual ones missed (fn)."""
    return Confusion(len(actual & predicted), len(predicted - actual), len(actual - predicted))


def identical_groups(items: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Ids of (id, body) items with byte-identical bodies, groups of two or more, ids in the order given."""
    groups: dict[str, list[str]] = {}
    for item_id, body in items:
        groups.setdefault(body, []).append(item_id)
    return [ids for ids in groups.values() if len(ids) > 1]


def group_found(group: Sequence[str], verdicts: Mapping[str, DedupVerdict], revisions: frozenset[str] = frozenset(),
                ) -> bool:
    """Every later member is a `duplicate` of an earlier member, or of an article in an earlier member's story.

    A member in `revisions` (a marked revision, e.g. a CORRECTED wire re-issuing the same body under a corrected
    headline) counts when it is an `update` of an earlier member with similarity 1.0 instead.
    """
    for n, member in enumerate(group[1:], start=1):
        verdict, earlier = verdicts.get(member), group[:n]
        stories = {verdicts[e].story_id for e in earlier if e in verdicts}
        if verdict is None:
            return False
        if member in revisions and verdict.kind == "update" and verdict.similarity == 1.0:
            if verdict.matched_id not in earlier:
                return False
        elif verdict.kind != "duplicate" or not (verdict.matched_id in earlier or verdict.story_id in stories):
            return False
    return True


def strip_correction(title: str) -> str:
    """The headline without its `CORRECTED -` prefix (unchanged when it has none)."""
    return CORRECTION.sub("", title)


def title_share(title: str, other: str) -> float:
    """Share of `title`'s normalised words (correction prefix dropped) that `other`'s title also has."""
    words = set(signatures.normalise(strip_correction(title)).split())
    return len(words & set(signatures.normalise(strip_correction(other)).split())) / len(words) if words else 0.0


def corrected_wire(position: int, start: int, titles: Sequence[str], sets: Sequence[frozenset],
                   ) -> tuple[int, float] | None:
    """(position, body Jaccard) of the wire a correction at `position` re-issues, or None when none qualifies.

    Candidates: the earlier same-week wires, positions `start` to `position` - 1, whose title holds >= MIN_TITLE_SHARE of the correction's title words or
    whose body has Jaccard >= MIN_BODY_J; the highest title share + body Jaccard wins, the latest on ties. Titles
    count because corrected figures change every shingle of a short table (Jaccard 0 to its original).
    """
    best: tuple[float, int, float] | None = None
    for k in range(start, position):
        share, body = title_share(titles[position], titles[k]), jaccard(sets[position], sets[k])
        if (share >= MIN_TITLE_SHARE or body >= MIN_BODY_J) and (best is None or share + body >= best[0]):
            best = (share + body, k, body)
    return (best[1], best[2]) if best else None


def dedup_version() -> str:
    """A short hash of agents/dedup/*.py: which state of the core (being refactored) the figures are for."""
    digest = hashlib.sha256()
    for source in sorted(Path(dedup_package.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--at", type=float, default=0.8, help="reference Jaccard for a near-duplicate")
    options.add_argument("--show", type=int, default=10, help="misses and false positives listed")
    args = options.parse_args()
    settings = Settings.from_env()
    raws = reuters_raw(10**9)
    articles = clean_reuters(settings, raws)
    reference = load_reference(articles, settings.data_dir)
    seconds, verdicts = timed(lambda: judge_all(articles, settings), args.runs)
    by_id = {a.id: v for a, v in zip(articles, verdicts)}
    raw_titles = {r["id"]: r["title"] for r in raws}
    titles = [raw_titles[a.id.split("#")[0]] for a in articles]
    print(f"Reuters-21578: {len(raws)} dated wires with a body → {len(articles)} clean articles, publish order; "
          f"dedup sources {dedup_version()}")

    groups = identical_groups((r["id"], r["text"]) for r in raws)
    revisions = frozenset(a.id for a in articles if a.update_note)
    missed = [g for g in groups if not group_found(g, by_id, revisions)]
    as_revision = sum(group_found(g, by_id, revisions) and not group_found(g, by_id) for g in groups)
    print(f"(a) byte-identical bodies: {len(groups) - len(missed)} of {len(groups)} groups found "
          f"({sum(map(len, groups))} wires); {as_revision} of them through a marked revision given as `update` "
          f"of its original at similarity 1.0 (same body, corrected headline)")
    raw_times = {r["id"]: r["date"] for r in raws}
    spans = [_span_days([raw_times[m] for m in g]) for g in groups]
    print(f"    groups whose members are more than {SAME_WEEK.days} days apart: "
          f"{sum(span > SAME_WEEK.days for span in spans)}; with different titles: "
          f"{sum(len({raw_titles[m] for m in g}) > 1 for g in groups)}")
    for group in missed[:args.show]:
        print(f"    missed {group} ({_span_days([raw_times[m] for m in group]):.1f} days apart): "
              f"{[(by_id[m].kind, by_id[m].matched_id) for m in group if m in by_id]}")

    sets = [shingle_set(a.body) for a in articles]
    _near_duplicates(articles, titles, sets, reference, verdicts, args.at, args.show)
    _corrections(articles, titles, sets, verdicts, args.show)

    kinds = Counter(v.kind for v in verdicts)
    print(f"(d) verdicts: {dict(sorted(kinds.items()))}")
    print(f"    dedup core: {len(articles) / seconds:.0f} articles/s (median of {args.runs} runs, "
          f"{seconds:.1f} s for {len(articles)}, one process)")


def judge_all(articles: Sequence[CleanArticle], settings: Settings) -> list[DedupVerdict]:
    """Verdicts on `articles` in order, from a fresh index (the replay a worker would make)."""
    index = in_memory_index(settings)
    return [index.judge(a) for a in articles]


def _near_duplicates(articles: Sequence[CleanArticle], titles: Sequence[str], sets: Sequence[frozenset],
                     reference: Sequence[ReferenceEntry], verdicts: Sequence[DedupVerdict], at: float,
                     show: int) -> None:
    """Print (b): P/R of duplicate/update against the reference at Jaccard >= `at`, misses and false positives."""
    position = {a.id: n for n, a in enumerate(articles)}
    actual = {e.id for e in reference if e.best and e.best[1] >= at}
    predicted = {a.id for a, v in zip(articles, verdicts) if v.kind in PREDICTED_KINDS}
    scores = confusion(actual, predicted)
    print(f"(b) near-duplicates, reference = an earlier wire within {SAME_WEEK.days} days at exact 5-shingle "
          f"J >= {at}: {len(actual)} articles")
    print(f"    duplicate|update: precision {scores.precision:.3f} recall {scores.recall:.3f} "
          f"(tp {scores.tp}, fp {scores.fp}, fn {scores.fn})")
    # What the reference cannot see: marked revisions are updates by their mark whatever their overlap (part (c)
    # scores them), and an exact re-send of a wire more than a week older is outside the reference's window.
    published = {a.id: a.published for a in articles}
    unseen = {a.id for a, v in zip(articles, verdicts) if a.update_note or (
        v.kind == "duplicate" and v.similarity == 1.0 and v.matched_id in published
        and a.published - published[v.matched_id] > SAME_WEEK)}  # type: ignore[operator]
    outside = confusion(actual - unseen, predicted - unseen)
    print(f"    not counting the {len(unseen)} marked revisions and week-old exact re-sends: precision "
          f"{outside.precision:.3f} recall {outside.recall:.3f} (tp {outside.tp}, fp {outside.fp}, fn {outside.fn})")
    for kind in PREDICTED_KINDS:
        only = confusion(actual, {a.id for a, v in zip(articles, verdicts) if v.kind == kind})
        print(f"    {kind:9} alone: precision {only.precision:.3f} recall {only.recall:.3f} "
              f"(tp {only.tp}, fp {only.fp}, fn {only.fn})")
    true_positives = [n for n, a in enumerate(articles) if a.id in actual & predicted]
    right_match = sum(verdicts[n].matched_id in reference[n].partner_ids(at) for n in true_positives)
    print(f"    true positives whose matched_id is a reference partner at J >= {at}: {right_match} of "
          f"{len(true_positives)}")

    def describe(n: int) -> str:
        verdict, entry = verdicts[n], reference[n]
        matched = position.get(verdict.matched_id or "")
        to_matched = "" if matched is None else (
            f", exact J to matched {jaccard(sets[n], sets[matched]):.2f} "
            f"({_days(articles[n], articles[matched]):.1f} days earlier)")
        best = "no partner" if not entry.best else (
            f"best partner {entry.best[0]} J {entry.best[1]:.2f} "
            f"({_days(articles[n], articles[position[entry.best[0]]]):.1f} days earlier)")
        return (f"{articles[n].id} {titles[n][:50]!r}: {verdict.kind} of {verdict.matched_id} "
                f"(est. {verdict.similarity:.2f}{to_matched}); {best}")

    for cutoff in (0.3, 0.5, 0.8):
        kept = {articles[n].id for n in range(len(articles)) if articles[n].id in predicted
                and verdicts[n].matched_id in position
                and jaccard(sets[n], sets[position[verdicts[n].matched_id]]) >= cutoff}
        what_if = confusion(actual, kept)
        print(f"    what if only verdicts with exact J to matched_id >= {cutoff} counted: precision "
              f"{what_if.precision:.3f} recall {what_if.recall:.3f}")
    misses = [n for n, a in enumerate(articles) if a.id in actual - predicted]
    print(f"    misses by verdict: {dict(Counter(verdicts[n].kind for n in misses))}")
    for n in misses[:show]:
        print(f"      miss {describe(n)}")
    for kind in PREDICTED_KINDS:
        false = [n for n, a in enumerate(articles) if a.id in predicted - actual and verdicts[n].kind == kind]
        exact = [jaccard(sets[n], sets[position[verdicts[n].matched_id]]) for n in false
                 if verdicts[n].matched_id in position]
        print(f"    false {kind}s: {len(false)}; exact J to the matched wire: "
              f"{_histogram(exact, (0.0, 0.2, 0.5, 0.8, 1.01))}")
        for n in false[:show]:
            print(f"      fp {describe(n)}")


def _span_days(iso_times: Sequence[str]) -> float:
    """Days from the first to the last of some ISO times."""
    moments = sorted(datetime.fromisoformat(t) for t in iso_times)
    return (moments[-1] - moments[0]).total_seconds() / 86400


def _days(later: CleanArticle, earlier: CleanArticle) -> float:
    """Days between two articles' publish times."""
    return (later.published - earlier.published).total_seconds() / 86400  # type: ignore[operator]


def _histogram(values: Sequence[float], edges: Sequence[float]) -> str:
    """Counts of `values` per [edge, next edge) bin, as text."""
    return ", ".join(f"[{lo:.1f},{min(hi, 1.0):.1f}{']' if hi > 1 else ')'}: {sum(lo <= v < hi for v in values)}"
                     for lo, hi in zip(edges, edges[1:]))


def _corrections(articles: Sequence[CleanArticle], titles: Sequence[str], sets: Sequence[frozenset],
                 verdicts: Sequence[DedupVerdict], show: int) -> None:
    """Print (c): how the `CORRECTED -` wires come out, against the wire each corrects."""
    starts = window_starts([a.published for a in articles])  # type: ignore[misc]
    story_of = {a.id: v.story_id for a, v in zip(articles, verdicts)}
    positions = [n for n, t in enumerate(titles) if CORRECTION.match(t) and "#" not in articles[n].id]
    rows, outcome = [], Counter()
    for n in positions:
        found = corrected_wire(n, starts[n], titles, sets)
        verdict = verdicts[n]
        if found is None:
            outcome["no original in the corpus"] += 1
            rows.append(f"{articles[n].id} {titles[n][:50]!r}: no original found; {verdict.kind}")
            continue
        original = articles[found[0]].id
        if verdict.kind == "update" and verdict.matched_id == original:
            outcome["update of the original"] += 1
            continue
        in_story = verdict.story_id == story_of[original]
        key = f"{verdict.kind} ({'in' if in_story else 'not in'} the original's story)"
        outcome[key] += 1
        rows.append(f"{articles[n].id} {titles[n][:50]!r} corrects {original} {titles[found[0]][:40]!r} "
                    f"(J {found[1]:.2f}): {verdict.kind} of {verdict.matched_id} (est. {verdict.similarity:.2f})")
    print(f"(c) CORRECTED wires: {len(positions)} with a body in the replay; "
          f"{outcome['update of the original']} of {len(positions) - outcome['no original in the corpus']} with an "
          f"identified original come out `update` of it")
    print(f"    outcomes: {dict(outcome)}")
    for row in rows:
        print(f"      {row}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
