"""Dedup's decider: the verdict on each article, in stream order, from the index partitions' candidates.

Verdict rules, in order (first match wins):
1. exact: the sha256 of the normalised body (lowercase, alphanumerics only, single spaces; title excluded) was seen
   within the exact retention → `duplicate` of the first article with it, similarity 1.0; but a marked revision
   whose headline changed is an `update` of it (the body stayed, the headline was corrected).
2. marked revision (`update_note`: "(Updates with …)", a "CORRECTED -" or "UPDATE 2-" headline) → `update` of the
   same-source article it re-issues: the most alike (word 5-shingle Jaccard plus headline overlap) among its LSH
   candidates and the articles of its story, the story matched without the story window.
3. near-copy: each LSH candidate is scored by word 5-shingle Jaccard (their sketches). Among those at or above
   `update`: the best one → `duplicate` when it is at or above `duplicate` and the article adds no sentence to its
   story; else the best same-source one → `update` of it (a revision: high overlap, something added or changed);
   else the best one (another outlet's copy) → `duplicate` when the article adds nothing, else `same_story`.
4. story: the story matcher (`agents.dedup.stories`) places the article in a story it remembers → `same_story` of
   the story's newest article (a story quiet for longer than the retention is reopened: the matcher remembers more
   stories than the decider keeps articles of).
5. otherwise `new`; its story id is its own id.
Sources compare case-insensitively; an unknown source matches no other. A sentence is added when fewer than half
of its word 3-grams are in the story's 3-gram set (sentences under four words are skipped). Duplicates are not
recorded; every other article is, and its story updated. Candidates are ranked by similarity, then stream order,
so a stream gets the same verdicts however many index partitions and workers answer.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from agents.dedup import sentences, signatures
from agents.dedup.hours import HOUR, HourLog
from agents.dedup.state import ArticleEntry, ExactEntry, GivenVerdict, StoryEntry
from agents.dedup.stories import MatcherSettings, StoryFeatures, StoryMatcher, story_features
from streams.codecs import HASH32, pack_hashes, unpack_hashes
from streams.records import CleanArticle, DedupManifest, DedupVerdict
from streams.settings import Settings
from streams.state import TypedTable
from streams.times import article_time, as_utc

Candidate = Sequence[Any]  # [article id, seq]: an earlier article an index partition found (DedupCandidates)
Trigrams = list[tuple[str, list[int]]]
STORY_VERSIONS_KEPT = 100  # the story's newest articles a marked revision may update


@dataclass(frozen=True)
class Thresholds:
    """The numbers dedup decides with; defaults are `Settings`' defaults."""

    duplicate: float = 0.9
    update: float = 0.8
    retention: timedelta = timedelta(hours=168)
    exact_retention: timedelta = timedelta(hours=720)
    matcher: MatcherSettings = field(default_factory=MatcherSettings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """Thresholds from the wirewatch settings object."""
        return cls(settings.duplicate_threshold, settings.update_threshold,
                   timedelta(hours=settings.dedup_retention_hours),
                   timedelta(hours=settings.dedup_exact_retention_hours),
                   MatcherSettings.from_settings(settings))


@dataclass(frozen=True)
class _Near:
    """A live LSH candidate with its word 5-shingle Jaccard to the article."""

    id: str
    jaccard: float
    seq: int
    entry: ArticleEntry


class Decider:
    """Verdicts and the state behind them, in mappings (Faust tables in the agent), written only by assignment.

    verdicts: "{article id}@{ingested_at}" → GivenVerdict, so a re-delivered article gets its verdict again
    exact:    body fingerprint → ExactEntry (the first article with it, when last seen, its normalised title)
    articles: article id → ArticleEntry (story, source, time, fingerprint, sketch, title, its sentences' 3-grams)
    stories:  story id → StoryEntry (last update, its newest STORY_VERSIONS_KEPT article ids)
    hours:    two HourLogs of what expiry visits: "judged:" [verdict key, article id, story id] of each article
              judged (ids None for a duplicate), "exact:" the fingerprints recorded or seen again
    (value types in agents.dedup.state; the mappings hold their stored forms)
    The story matcher keeps its own two mappings (story_docs, story_vectors: see agents.dedup.stories).
    """

    TABLES = ("verdicts", "exact", "articles", "stories", "hours", "story-docs", "story-vectors")
    # Its tables move together in a rebalance: this one's recovery tells the agent to call `forget_derived`.
    RECOVERY_TABLE = "story-vectors"

    def __init__(self, *, verdicts: MutableMapping[str, Any], exact: MutableMapping[str, Any],
                 articles: MutableMapping[str, Any], stories: MutableMapping[str, Any],
                 hours: MutableMapping[str, Any], story_docs: MutableMapping[str, Any],
                 story_vectors: MutableMapping[str, Any], thresholds: Thresholds = Thresholds()) -> None:
        self.verdicts = TypedTable(verdicts, GivenVerdict)
        self.exact = TypedTable(exact, ExactEntry)
        self.articles = TypedTable(articles, ArticleEntry)
        self.stories = TypedTable(stories, StoryEntry)
        self._judged, self._fingerprints = HourLog(hours, "judged:"), HourLog(hours, "exact:")
        self.matcher = StoryMatcher(story_docs, story_vectors, thresholds.matcher)
        self.thresholds = thresholds
        self._expired_before_hour = -1  # in memory: after a restart the first article sweeps once
        self._known = sentences.KnownTrigrams()

    @classmethod
    def from_tables(cls, tables: Mapping[str, MutableMapping[str, Any]],
                    thresholds: Thresholds = Thresholds()) -> Decider:
        """The decider over its tables by their names in `TABLES` (Faust tables in the agent, dicts elsewhere)."""
        return cls(verdicts=tables["verdicts"], exact=tables["exact"], articles=tables["articles"],
                   stories=tables["stories"], hours=tables["hours"], story_docs=tables["story-docs"],
                   story_vectors=tables["story-vectors"], thresholds=thresholds)

    def forget_derived(self) -> None:
        """Drop what is derived from the tables in memory (called after table recovery: they may have moved)."""
        self.matcher.forget_derived()
        self._known = sentences.KnownTrigrams()
        self._expired_before_hour = -1

    def decide(self, manifest: DedupManifest, candidates: Sequence[Candidate]) -> DedupVerdict:
        """The verdict on the manifest's article given every index partition's candidates; records it.

        Idempotent: an article delivered again after a crash (same id, same ingest time) gets the verdict it got
        the first time instead of being called a duplicate of itself. The same text ingested again is a new
        delivery, with a new ingest time, and is judged a duplicate.
        """
        article = manifest.article
        if not manifest.fingerprint:
            return DedupVerdict(kind="new", story_id=article.id)
        replay_key = article.delivery_key
        given = self.verdicts.get(replay_key)
        if given is not None:
            return given.verdict
        self._expire(manifest.stream_time)
        time = article_time(article).timestamp()
        sketch = unpack_hashes(manifest.sketch, HASH32)
        title = _title_words(article)
        verdict = self._exact_duplicate(manifest, title, time)
        if verdict is not None and verdict.kind == "duplicate":
            self._judged.note(time, [replay_key, None, None])
            return self._given(replay_key, verdict, time)
        trigrams = sentences.sentence_trigrams(article.paragraphs)
        features = story_features(article)
        if verdict is None:
            near = self._scored(candidates, sketch, manifest.stream_time)
            verdict = ((self._revision(article, near, features, sketch, title=title, trigrams=trigrams)
                        if article.update_note else None)
                       or self._near_copy(article, near, trigrams) or self._story_verdict(article, features, trigrams))
        recorded = verdict.kind != "duplicate"
        self._judged.note(time, [replay_key, article.id if recorded else None, verdict.story_id if recorded else None])
        self._given(replay_key, verdict, time)
        if recorded:
            self._record(article, manifest, title, trigrams, features, story_id=verdict.story_id, time=time)
        return verdict

    def _given(self, replay_key: str, verdict: DedupVerdict, time: float) -> DedupVerdict:
        """Remember the verdict before anything else: a crash after it replays as this verdict, not as a duplicate."""
        self.verdicts[replay_key] = GivenVerdict(verdict, time)
        return verdict

    # ---- the rules ----

    def _exact_duplicate(self, manifest: DedupManifest, title: list[str], time: float) -> DedupVerdict | None:
        first = self.exact.get(manifest.fingerprint)
        cutoff = manifest.stream_time - self.thresholds.exact_retention.total_seconds()
        if first is None or first.time < cutoff:
            return None
        entry = self.articles.get(first.article_id)
        story_id = entry.story_id if entry and entry.story_id in self.stories else first.article_id
        if manifest.article.update_note and title != first.title:
            return DedupVerdict(kind="update", story_id=story_id, similarity=1.0, matched_id=first.article_id)
        self.exact[manifest.fingerprint] = replace(first, time=max(first.time, time))  # a re-send keeps it alive
        self._fingerprints.note(time, manifest.fingerprint)
        return DedupVerdict(kind="duplicate", story_id=story_id, similarity=1.0, matched_id=first.article_id)

    def _revision(self, article: CleanArticle, near: list[_Near], features: StoryFeatures, sketch: np.ndarray, *,
                  title: list[str], trigrams: Trigrams) -> DedupVerdict | None:
        """A marked revision: `update` of the same-source article it re-issues, or None when there is none.

        What it re-issues is the same-source article most like it (shingle Jaccard plus headline overlap, newest on
        ties) among its LSH candidates and the articles of its story; the story is matched without the story window,
        as a correction may come days after its wire.
        """
        source = _source_key(article.source)
        if not source:
            return None
        pool = {n.id: (n.jaccard, n.entry) for n in near if _source_key(n.entry.source) == source}
        match = self.matcher.match(features, None)
        if match is not None and match[0] in self.stories:
            for article_id in self.stories[match[0]].versions:
                entry = self.articles.get(article_id)
                if article_id not in pool and entry is not None and _source_key(entry.source) == source:
                    stored = unpack_hashes(entry.sketch, HASH32)
                    pool[article_id] = (signatures.sketch_jaccard(sketch, stored), entry)
        if not pool:
            return None
        # Candidates come in stream order, story versions oldest first: `>=` keeps the newest of equals.
        best_id, best_closeness = next(iter(pool)), -1.0
        for article_id, (jaccard, entry) in pool.items():
            closeness = jaccard + _share(title, entry.title)
            if closeness >= best_closeness:
                best_id, best_closeness = article_id, closeness
        jaccard, entry = pool[best_id]
        return DedupVerdict(kind="update", story_id=entry.story_id, similarity=round(jaccard, 4),
                            matched_id=best_id, added_sentences=self._added(trigrams, entry.story_id))

    def _near_copy(self, article: CleanArticle, near: list[_Near], trigrams: Trigrams) -> DedupVerdict | None:
        copies = [n for n in near if n.jaccard >= self.thresholds.update]
        if not copies:
            return None
        best = copies[0]
        source = _source_key(article.source)
        same_source = next((n for n in copies if source and _source_key(n.entry.source) == source), None)
        added = self._added(trigrams, best.entry.story_id)
        if best.jaccard >= self.thresholds.duplicate and not added:
            return self._verdict("duplicate", best)
        if same_source is not None:
            return self._verdict("update", same_source, self._added(trigrams, same_source.entry.story_id))
        return self._verdict("same_story", best, added) if added else self._verdict("duplicate", best)

    def _story_verdict(self, article: CleanArticle, features: StoryFeatures, trigrams: Trigrams) -> DedupVerdict:
        published = as_utc(article.published) if article.published else None
        match = self.matcher.match(features, published)
        if match is None:
            return DedupVerdict(kind="new", story_id=article.id)
        story_id, score = match
        story = self.stories.get(story_id)
        newest = story.versions[-1] if story else self.matcher.stories[story_id].last_article or story_id
        return DedupVerdict(kind="same_story", story_id=story_id, similarity=round(score, 4),
                            matched_id=newest, added_sentences=self._added(trigrams, story_id))

    # ---- helpers of the rules ----

    def _scored(self, candidates: Sequence[Candidate], sketch: np.ndarray, stream_now: float) -> list[_Near]:
        """Live candidates (recorded, within the retention, story known), best Jaccard first, then stream order."""
        cutoff = stream_now - self.thresholds.retention.total_seconds()
        near = []
        by_seq = {seq: article_id for article_id, seq in candidates}  # several partitions may find one article
        for seq, article_id in by_seq.items():
            entry = self.articles.get(article_id)
            if entry is None or entry.time < cutoff or entry.story_id not in self.stories:
                continue
            jaccard = signatures.sketch_jaccard(sketch, unpack_hashes(entry.sketch, HASH32))
            near.append(_Near(article_id, round(jaccard, 4), seq, entry))
        return sorted(near, key=lambda n: (-n.jaccard, n.seq))

    def _added(self, trigrams: Trigrams, story_id: str) -> list[str]:
        """The sentences the story lacks (all of them for a story reopened after the retention: none kept)."""
        known = self._story_trigrams(story_id) if story_id in self.stories else Counter[int]()
        return sentences.added_sentences(trigrams, known)

    def _story_trigrams(self, story_id: str) -> Counter[int]:
        """What the story has said: the 3-grams of its newest live articles, counted (cached; see KnownTrigrams)."""
        return self._known.get(story_id, self.stories[story_id].versions, self._trigrams_of)

    def _trigrams_of(self, article_ids: Sequence[str]) -> Counter[int]:
        known: Counter[int] = Counter()
        for article_id in article_ids:
            entry = self.articles.get(article_id)
            if entry is not None:
                known.update(unpack_hashes(entry.trigrams).tolist())
        return known

    @staticmethod
    def _verdict(kind: str, near: _Near, added: list[str] | None = None) -> DedupVerdict:
        return DedupVerdict(kind=kind, story_id=near.entry.story_id, similarity=near.jaccard, matched_id=near.id,
                            added_sentences=added or [])

    # ---- state ----

    def _record(self, article: CleanArticle, manifest: DedupManifest, title: list[str], trigrams: Trigrams,
                features: StoryFeatures, *, story_id: str, time: float) -> None:
        """Remember the article and fold it into its story; every write assigns a new value."""
        published = as_utc(article.published) if article.published else None
        grams = sentences.article_trigrams(trigrams)
        known = self._story_trigrams(story_id) if story_id in self.stories else Counter[int]()
        self.articles[article.id] = ArticleEntry(story_id, article.source, time, manifest.fingerprint,
                                                 manifest.sketch, title, pack_hashes(grams))
        if manifest.fingerprint not in self.exact:
            self.exact[manifest.fingerprint] = ExactEntry(article.id, time, title)
            self._fingerprints.note(time, manifest.fingerprint)
        story = self.stories.get(story_id) or StoryEntry(time, [])
        versions = [*story.versions, article.id][-STORY_VERSIONS_KEPT:]
        self.stories[story_id] = StoryEntry(max(story.last_update, time), versions)
        known.update(grams)
        pushed_out = story.versions[0] if len(versions) == len(story.versions) else None
        if pushed_out is None:
            self._known.put(story_id, versions, known)
        elif pushed_out not in versions and (entry := self.articles.get(pushed_out)) and entry.story_id == story_id:
            sentences.without(known, unpack_hashes(entry.trigrams).tolist())  # the oldest version's counts leave
            self._known.put(story_id, versions, known)
        else:  # that article is gone or was recorded again: rebuild when next asked
            self._known.drop(story_id)
        self.matcher.add(story_id, article.id, features, published, article_time(article), order=manifest.seq)

    def _expire(self, stream_now: float) -> None:
        """Forget what is wholly older than its retention, an hour at a time (lookups also check the cutoffs)."""
        cutoff = stream_now - self.thresholds.retention.total_seconds()
        # After every article: what the matcher keeps past the retention depends on how many it keeps.
        self.matcher.expire(datetime.fromtimestamp(cutoff, tz=UTC))
        if int(cutoff // HOUR) == self._expired_before_hour:
            return
        self._expired_before_hour = int(cutoff // HOUR)
        for replay_key, article_id, story_id in self._judged.take_before(cutoff):
            _forget(self.verdicts, replay_key, "time", cutoff)
            if _forget(self.articles, article_id, "time", cutoff):
                self._known.drop(story_id)
            _forget(self.stories, story_id, "last_update", cutoff)
        exact_cutoff = stream_now - self.thresholds.exact_retention.total_seconds()
        for fingerprint in self._fingerprints.take_before(exact_cutoff):
            _forget(self.exact, fingerprint, "time", exact_cutoff)


def _forget(table: MutableMapping[str, Any], key: str | None, time_field: str, cutoff: float) -> bool:
    """Remove `key` unless it was written again since its note (its time, `time_field`, is then past the cutoff)."""
    value = table.get(key) if key is not None else None
    if key is None or value is None or getattr(value, time_field) >= cutoff:
        return False
    del table[key]
    return True


def _source_key(source: str | None) -> str:
    return (source or "").casefold()


def _title_words(article: CleanArticle) -> list[str]:
    """The headline's distinct normalised words, in order (what tells a corrected headline from its original)."""
    return list(dict.fromkeys(signatures.words_of(article.title)))


def _share(words: list[str], other: list[str]) -> float:
    """Share of `words` that `other` also has."""
    return len(set(words) & set(other)) / len(words) if words else 0.0
