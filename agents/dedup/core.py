"""The dedup stage's pure core: judge each clean article against what came before, and remember it.

Verdict rules, in order (first match wins):
1. exact: the sha256 of the normalised body (lowercase, alphanumerics only, single spaces; title excluded) was
   seen before → `duplicate` of the first article with that fingerprint, similarity 1.0.
2. near-duplicate: the best LSH candidate by estimated word-5-shingle Jaccard is ≥ duplicate_threshold and the
   article adds no sentence to that candidate's story → `duplicate` (no publish-time window: a re-publication is
   a duplicate whenever it appears).
3. story: the best LSH candidate by estimated content-word Jaccard is ≥ story_threshold and, when both have a
   publish time, within story_window of it. If the story already has an article from the same source (both
   non-empty, case-insensitive) → `update` of that source's latest article in the story, or `duplicate` of it
   when the article adds no sentence at all; otherwise → `same_story` of the candidate.
4. otherwise `new`; its story id is its own id.
A sentence is added when fewer than half of its word 3-grams are in the story's 3-gram set; sentences under four
words are skipped. Duplicates are not indexed (they add nothing); every other article is, and its story updated.
An article with an empty body is `new` and not indexed for matching. Candidates are examined in band order and
ties keep the first, so the same input order gives the same verdicts in any process.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from agents.dedup import sentences, signatures
from streams.records import CleanArticle, DedupVerdict
from streams.settings import Settings

ArticleEntry = dict[str, Any]
StoryEntry = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    """The three numbers dedup decides with; defaults are `Settings`' defaults."""

    story: float = 0.2
    duplicate: float = 0.9
    story_window: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """Thresholds from the wirewatch settings object."""
        return cls(settings.story_threshold, settings.duplicate_threshold,
                   timedelta(hours=settings.story_window_hours))


@dataclass
class _Features:
    """What judging needs from one article, computed once."""

    fingerprint: str
    shingle_sig: list[int]
    content_sig: list[int]
    shingle_keys: list[str]
    content_keys: list[str]
    sentences: list[tuple[str, list[int]]]  # each sentence with its 3-gram hashes
    source_key: str                          # casefolded source, "" when unknown
    published: datetime | None
    seen: datetime


class DedupIndex:
    """Dedup state in four plain mappings (Faust tables in the agent), written only by assignment.

    verdicts: "{article id}@{ingested_at}" → the verdict given (as a dict), so a replayed article gets it again
    exact:    body fingerprint → id of the first article with it
    bands:    band key "{shingle|content}:{band_no}:{hash}" → ids of indexed articles in that bucket
    articles: article id → ArticleEntry (see `_article_entry`)
    stories:  story id → StoryEntry (see `_story_entry`)
    """

    def __init__(self, verdicts: MutableMapping[str, dict[str, Any]], exact: MutableMapping[str, str],
                 bands: MutableMapping[str, list[str]], articles: MutableMapping[str, ArticleEntry],
                 stories: MutableMapping[str, StoryEntry], thresholds: Thresholds = Thresholds()) -> None:
        self.verdicts = verdicts
        self.exact = exact
        self.bands = bands
        self.articles = articles
        self.stories = stories
        self.thresholds = thresholds

    def judge(self, article: CleanArticle) -> DedupVerdict:
        """The verdict on `article`; every non-duplicate is recorded so later articles are judged against it.

        Judging is idempotent: delivery is at-least-once, and an article delivered again after a crash (same id,
        same ingest time) gets the verdict it got the first time instead of being called a duplicate of itself.
        The same text ingested again is a new delivery, with a new ingest time, and is judged a duplicate.
        """
        normalised = signatures.normalise(article.body)
        if not normalised:
            return DedupVerdict(kind="new", story_id=article.id)
        features = _features(article, normalised)
        replay_key = f"{article.id}@{article.ingested_at!r}"
        given = self.verdicts.get(replay_key)
        if given is not None:
            return DedupVerdict(**{k: v for k, v in given.items() if k != "seen"})
        verdict = (self._exact_duplicate(features) or self._near_duplicate(features)
                   or self._story_verdict(features, article.id))
        # The verdict first: a crash between the two writes then replays as this verdict, not as a duplicate of itself.
        self.verdicts[replay_key] = {**verdict.asdict(), "seen": _iso(features.seen)}
        if verdict.kind != "duplicate":
            self._record(article, features, story_id=verdict.story_id)
        return verdict

    def _exact_duplicate(self, features: _Features) -> DedupVerdict | None:
        first_id = self.exact.get(features.fingerprint)
        if first_id is None:
            return None
        story_id = self.articles[first_id]["story_id"] if first_id in self.articles else first_id
        return DedupVerdict(kind="duplicate", story_id=story_id, similarity=1.0, matched_id=first_id)

    def _near_duplicate(self, features: _Features) -> DedupVerdict | None:
        # Only shingle-band candidates: a pair at 5-shingle Jaccard 0.9 shares a shingle band with p > 0.9999.
        near = _best(features.shingle_sig, self._candidates(features.shingle_keys), "shingle_sig")
        if near is None or near[1] < self.thresholds.duplicate:
            return None
        near_id, similarity = near
        story_id = self.articles[near_id]["story_id"]
        if sentences.added_sentences(features.sentences, set(self.stories[story_id]["trigrams"])):
            return None
        return DedupVerdict(kind="duplicate", story_id=story_id, similarity=similarity, matched_id=near_id)

    def _story_verdict(self, features: _Features, article_id: str) -> DedupVerdict:
        """`update`, `same_story` or (same source, nothing added) `duplicate` of the best story match, else `new`."""
        candidates = self._candidates(features.shingle_keys + features.content_keys)
        in_window = {i: e for i, e in candidates.items() if self._within_window(features.published, e)}
        match = _best(features.content_sig, in_window, "content_sig")
        if match is None or match[1] < self.thresholds.story:
            return DedupVerdict(kind="new", story_id=article_id)
        matched_id, similarity = match
        story_id = self.articles[matched_id]["story_id"]
        story = self.stories[story_id]
        added = sentences.added_sentences(features.sentences, set(story["trigrams"]))
        same_source_id = story["latest_by_source"].get(features.source_key) if features.source_key else None
        if same_source_id is None or same_source_id not in self.articles:
            return DedupVerdict(kind="same_story", story_id=story_id, similarity=similarity, matched_id=matched_id,
                                added_sentences=added)
        earlier = self.articles[same_source_id]
        if not added:
            similarity = _similarity(features.shingle_sig, earlier["shingle_sig"])
            return DedupVerdict(kind="duplicate", story_id=story_id, similarity=similarity, matched_id=same_source_id)
        return DedupVerdict(kind="update", story_id=story_id, matched_id=same_source_id, added_sentences=added,
                            similarity=_similarity(features.content_sig, earlier["content_sig"]))

    def expire(self, before: datetime) -> int:
        """Forget articles (and their band and fingerprint entries) and stories last seen before `before`.

        Returns the number of articles removed.
        """
        cutoff = _as_utc(before)
        old_ids = [i for i, entry in self.articles.items() if datetime.fromisoformat(entry["seen"]) < cutoff]
        for article_id in old_ids:
            entry = self.articles[article_id]
            shingle_keys, content_keys = _band_keys(entry["shingle_sig"], entry["content_sig"])
            for key in shingle_keys + content_keys:
                remaining = [i for i in self.bands.get(key, []) if i != article_id]
                if remaining:
                    self.bands[key] = remaining
                elif key in self.bands:
                    del self.bands[key]
            if self.exact.get(entry["fingerprint"]) == article_id:
                del self.exact[entry["fingerprint"]]
            del self.articles[article_id]
        for key in [k for k, given in self.verdicts.items() if datetime.fromisoformat(given["seen"]) < cutoff]:
            del self.verdicts[key]
        old_stories = [i for i, story in self.stories.items() if datetime.fromisoformat(story["last_update"]) < cutoff]
        for story_id in old_stories:
            del self.stories[story_id]
        return len(old_ids)

    def _candidates(self, keys: list[str]) -> dict[str, ArticleEntry]:
        """Indexed articles sharing a band with the article and whose story is still known, in band order."""
        ids = dict.fromkeys(i for key in keys for i in self.bands.get(key, ()))
        entries = {i: self.articles.get(i) for i in ids}
        return {i: e for i, e in entries.items() if e is not None and e["story_id"] in self.stories}

    def _within_window(self, published: datetime | None, entry: ArticleEntry) -> bool:
        if published is None or entry["published"] is None:
            return True  # unknown times: no window
        return abs(published - datetime.fromisoformat(entry["published"])) <= self.thresholds.story_window

    def _record(self, article: CleanArticle, features: _Features, story_id: str) -> None:
        """Index the article and fold it into its story; every write is an assignment of a new value."""
        self.articles[article.id] = _article_entry(article, features, story_id)
        for key in features.shingle_keys + features.content_keys:
            bucket = self.bands.get(key, [])
            if article.id not in bucket:
                self.bands[key] = [*bucket, article.id]
        if features.fingerprint not in self.exact:
            self.exact[features.fingerprint] = article.id
        trigrams = sentences.article_trigrams(features.sentences)
        self.stories[story_id] = _story_entry(self.stories.get(story_id), article, features, trigrams)


def in_memory_index(settings: Settings) -> DedupIndex:
    """A dedup index over plain dicts: the offline commands and benchmarks judge with the stream's rules."""
    return DedupIndex({}, {}, {}, {}, {}, Thresholds.from_settings(settings))


class Expiry:
    """Runs `DedupIndex.expire` now and then, so the index holds a bounded window of the stream.

    The window is measured in stream time (the newest publish or ingest time seen), not wall time, so a replay of
    old wires keeps its week of context. Expiry writes tables, so it runs inside the agent, between articles.
    """

    def __init__(self, retention: timedelta, every: timedelta = timedelta(minutes=1)) -> None:
        self.retention = retention
        self.every = every
        self.newest: datetime | None = None
        self.last_run: datetime | None = None

    def maybe_expire(self, index: DedupIndex, article: CleanArticle) -> int:
        """Expire entries older than the window if `every` has passed in stream time; returns articles removed."""
        seen = stream_time(article)
        self.newest = max(self.newest or seen, seen)
        if self.last_run is not None and self.newest - self.last_run < self.every:
            return 0
        self.last_run = self.newest
        return index.expire(self.newest - self.retention)


def stream_time(article: CleanArticle) -> datetime:
    """When the article happened for dedup: its publish time, else when it was ingested (UTC)."""
    if article.published:
        return _as_utc(article.published)
    return datetime.fromtimestamp(article.ingested_at, tz=timezone.utc)


def _features(article: CleanArticle, normalised_body: str) -> _Features:
    words = normalised_body.split()
    shingle_sig = signatures.minhash_signature(signatures.shingles(words))
    content_sig = signatures.minhash_signature(signatures.content_words(words))
    published = _as_utc(article.published) if article.published else None
    return _Features(signatures.body_fingerprint(normalised_body), shingle_sig, content_sig,
                     *_band_keys(shingle_sig, content_sig), sentences.sentence_trigrams(article.paragraphs),
                     (article.source or "").casefold(), published, stream_time(article))


def _band_keys(shingle_sig: list[int], content_sig: list[int]) -> tuple[list[str], list[str]]:
    """(shingle band keys, content band keys)."""
    return (signatures.band_keys("shingle", shingle_sig, signatures.SHINGLE_BANDS, signatures.SHINGLE_ROWS),
            signatures.band_keys("content", content_sig, signatures.CONTENT_BANDS, signatures.CONTENT_ROWS))


def _similarity(signature: list[int], other: list[int]) -> float:
    return float(signatures.estimated_jaccard(signature, [other])[0])


def _best(signature: list[int], candidates: dict[str, ArticleEntry], field: str) -> tuple[str, float] | None:
    """The candidate with the highest estimated Jaccard on `field` (first wins ties), or None."""
    if not candidates:
        return None
    ids = list(candidates)
    scores = signatures.estimated_jaccard(signature, [candidates[i][field] for i in ids])
    best = int(scores.argmax())  # argmax returns the first maximum: deterministic ties
    return ids[best], float(scores[best])


def _as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already (the clean stage emits UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    """ISO 8601 with microseconds always present, so stored times also order as strings."""
    return moment.isoformat(timespec="microseconds")


def _article_entry(article: CleanArticle, features: _Features, story_id: str) -> ArticleEntry:
    return {
        "story_id": story_id,
        "source": article.source,
        "published": _iso(features.published) if features.published else None,
        "seen": _iso(features.seen),  # publish time, else ingest time: what expiry compares
        "fingerprint": features.fingerprint,
        "shingle_sig": features.shingle_sig,
        "content_sig": features.content_sig,
    }


def _story_entry(story: StoryEntry | None, article: CleanArticle, features: _Features,
                 trigrams: list[int]) -> StoryEntry:
    """A new story entry (never the old dict mutated: tables persist only assigned values)."""
    seen = _iso(features.seen)
    if story is None:
        story = {"first_seen": seen, "last_update": seen, "versions": [], "sources": [],
                 "latest_by_source": {}, "headline": article.title, "trigrams": []}
    sources, latest = list(story["sources"]), dict(story["latest_by_source"])
    if article.source:
        if article.source.casefold() not in latest:
            sources.append(article.source)
        latest[article.source.casefold()] = article.id
    return {
        **story,
        "last_update": max(story["last_update"], seen),
        "versions": [*story["versions"], article.id],
        "sources": sources,
        "latest_by_source": latest,
        "trigrams": sentences.merged_trigrams(story["trigrams"], trigrams),
    }
