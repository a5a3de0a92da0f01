"""Dedup's decider: the verdict on each article, in stream order, from the index partitions' candidates.

Verdict rules, in order (first match wins):
1. exact: the sha256 of the normalised body (lowercase, alphanumerics only, single spaces; title excluded) was
   seen before → `duplicate` of the first article with that fingerprint, similarity 1.0.
2. near-duplicate: the best candidate by estimated word-5-shingle Jaccard is ≥ duplicate_threshold and the
   article adds no sentence to that candidate's story → `duplicate` (no publish-time window: a re-publication is
   a duplicate whenever it appears, within the retention).
3. story: the best candidate by estimated content-word Jaccard is ≥ story_threshold and, when both have a publish
   time, within story_window of it. If the story already has an article from the same source (both non-empty,
   case-insensitive) → `update` of that source's latest article in the story, or `duplicate` of it when the
   article adds no sentence at all; otherwise → `same_story` of the candidate.
4. otherwise `new`; its story id is its own id.
A sentence is added when fewer than half of its word 3-grams are in the story's 3-gram set; sentences under four
words are skipped. Duplicates are not recorded (they add nothing); every other article is, and its story updated.
Candidates are put in stream order and ties keep the earliest, so a stream gets the same verdicts however many
index partitions and workers answer.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agents.dedup import sentences
from agents.dedup.route import as_utc, stream_time
from streams.records import CleanArticle, DedupManifest, DedupVerdict
from streams.settings import Settings

ArticleEntry = dict[str, Any]
StoryEntry = dict[str, Any]
Candidate = list[Any]  # [article id, 5-shingle Jaccard, content-word Jaccard, seq], from the index partitions
HOUR = 3600.0


@dataclass(frozen=True)
class Thresholds:
    """The numbers dedup decides with; defaults are `Settings`' defaults."""

    story: float = 0.2
    duplicate: float = 0.9
    story_window: timedelta = timedelta(hours=72)
    retention: timedelta = timedelta(hours=168)

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """Thresholds from the wirewatch settings object."""
        return cls(settings.story_threshold, settings.duplicate_threshold,
                   timedelta(hours=settings.story_window_hours), timedelta(hours=settings.dedup_retention_hours))


class Decider:
    """Verdicts and the story state behind them, in five mappings (Faust tables in the agent), assignment only.

    verdicts: "{article id}@{ingested_at}" → the verdict given, so a re-delivered article gets it again
    exact:    body fingerprint → {"id": first article with it, "t": its time}
    articles: article id → ArticleEntry (story, source, publish time, time)
    stories:  story id → StoryEntry (versions, sources, latest article per source, 3-grams, headline)
    hours:    hour number → {"verdicts", "articles", "stories"} keys written in that hour: what expiry visits
    """

    def __init__(self, verdicts: MutableMapping[str, dict[str, Any]], exact: MutableMapping[str, dict[str, Any]],
                 articles: MutableMapping[str, ArticleEntry], stories: MutableMapping[str, StoryEntry],
                 hours: MutableMapping[str, dict[str, list[str]]], thresholds: Thresholds = Thresholds()) -> None:
        self.verdicts = verdicts
        self.exact = exact
        self.articles = articles
        self.stories = stories
        self.hours = hours
        self.thresholds = thresholds
        self._expired_before_hour = -1  # in memory: after a restart the first article sweeps once

    def decide(self, manifest: DedupManifest, candidates: list[Candidate]) -> DedupVerdict:
        """The verdict on the manifest's article given every index partition's candidates; records it.

        Idempotent: an article delivered again after a crash (same id, same ingest time) gets the verdict it got
        the first time instead of being called a duplicate of itself. The same text ingested again is a new
        delivery, with a new ingest time, and is judged a duplicate.
        """
        article = manifest.article
        if not manifest.fingerprint:
            return DedupVerdict(kind="new", story_id=article.id)
        replay_key = f"{article.id}@{article.ingested_at!r}"
        given = self.verdicts.get(replay_key)
        if given is not None:
            return DedupVerdict(**{k: v for k, v in given.items() if k != "t"})
        self._expire(manifest.stream_time)
        time = stream_time(article).timestamp()
        cutoff = manifest.stream_time - self.thresholds.retention.total_seconds()
        live = [c for c in _merged(candidates) if self._live_article(c[0], cutoff)]
        trigrams = sentences.sentence_trigrams(article.paragraphs)
        verdict = (self._exact_duplicate(manifest.fingerprint, cutoff) or self._near_duplicate(live, trigrams)
                   or self._story_verdict(article, live, trigrams))
        # The verdict first: a crash between the writes then replays as this verdict, not as a duplicate of itself.
        self.verdicts[replay_key] = {**verdict.asdict(), "t": time}
        self._note_hour(time, "verdicts", replay_key)
        if verdict.kind != "duplicate":
            self._record(article, manifest.fingerprint, trigrams, verdict.story_id, time)
        return verdict

    def _exact_duplicate(self, fingerprint: str, cutoff: float) -> DedupVerdict | None:
        first = self.exact.get(fingerprint)
        if first is None or first["t"] < cutoff:
            return None
        entry = self.articles.get(first["id"])
        story_id = entry["story_id"] if entry else first["id"]
        return DedupVerdict(kind="duplicate", story_id=story_id, similarity=1.0, matched_id=first["id"])

    def _near_duplicate(self, live: list[Candidate], trigrams: list[tuple[str, list[int]]]) -> DedupVerdict | None:
        near = _best(live, column=1)
        if near is None or near[1] < self.thresholds.duplicate:
            return None
        story_id = self.articles[near[0]]["story_id"]
        if sentences.added_sentences(trigrams, set(self.stories[story_id]["trigrams"])):
            return None
        return DedupVerdict(kind="duplicate", story_id=story_id, similarity=near[1], matched_id=near[0])

    def _story_verdict(self, article: CleanArticle, live: list[Candidate],
                       trigrams: list[tuple[str, list[int]]]) -> DedupVerdict:
        """`update`, `same_story` or (same source, nothing added) `duplicate` of the best story match, else `new`."""
        published = as_utc(article.published).timestamp() if article.published else None
        in_window = [c for c in live if self._within_window(published, self.articles[c[0]])]
        match = _best(in_window, column=2)
        if match is None or match[2] < self.thresholds.story:
            return DedupVerdict(kind="new", story_id=article.id)
        matched_id, similarity = match[0], match[2]
        story_id = self.articles[matched_id]["story_id"]
        story = self.stories[story_id]
        added = sentences.added_sentences(trigrams, set(story["trigrams"]))
        source_key = (article.source or "").casefold()
        same_source_id = story["latest_by_source"].get(source_key) if source_key else None
        if same_source_id is None or same_source_id not in self.articles:
            return DedupVerdict(kind="same_story", story_id=story_id, similarity=similarity, matched_id=matched_id,
                                added_sentences=added)
        earlier = next((c for c in live if c[0] == same_source_id), None)
        if not added:
            return DedupVerdict(kind="duplicate", story_id=story_id, matched_id=same_source_id,
                                similarity=earlier[1] if earlier else 0.0)
        return DedupVerdict(kind="update", story_id=story_id, matched_id=same_source_id, added_sentences=added,
                            similarity=earlier[2] if earlier else similarity)

    def _live_article(self, article_id: str, cutoff: float) -> bool:
        """Recorded (not a duplicate), within the retention, and its story still known."""
        entry = self.articles.get(article_id)
        return entry is not None and entry["t"] >= cutoff and entry["story_id"] in self.stories

    def _within_window(self, published: float | None, entry: ArticleEntry) -> bool:
        if published is None or entry["published"] is None:
            return True  # unknown times: no window
        return abs(published - entry["published"]) <= self.thresholds.story_window.total_seconds()

    def _record(self, article: CleanArticle, fingerprint: str, trigrams: list[tuple[str, list[int]]],
                story_id: str, time: float) -> None:
        """Remember the article and fold it into its story; every write assigns a new value."""
        published = as_utc(article.published).timestamp() if article.published else None
        self.articles[article.id] = {"story_id": story_id, "source": article.source, "published": published,
                                     "t": time, "fingerprint": fingerprint}
        self._note_hour(time, "articles", article.id)
        if fingerprint not in self.exact:
            self.exact[fingerprint] = {"id": article.id, "t": time}
        self.stories[story_id] = _story_entry(self.stories.get(story_id), article, time,
                                              sentences.article_trigrams(trigrams))
        self._note_hour(time, "stories", story_id)

    def _note_hour(self, time: float, kind: str, key: str) -> None:
        hour = str(int(time // HOUR))
        noted = self.hours.get(hour) or {"verdicts": [], "articles": [], "stories": []}
        self.hours[hour] = {**noted, kind: [*noted[kind], key]}

    def _expire(self, stream_time: float) -> None:
        """Forget what is wholly older than the retention, an hour at a time (lookups also check the cutoff)."""
        cutoff = stream_time - self.thresholds.retention.total_seconds()
        if int(cutoff // HOUR) == self._expired_before_hour:
            return
        self._expired_before_hour = int(cutoff // HOUR)
        for hour in [h for h in list(self.hours) if (int(h) + 1) * HOUR <= cutoff]:
            noted = self.hours[hour]
            for key in noted["verdicts"]:
                self.verdicts.pop(key, None)
            for article_id in noted["articles"]:
                entry = self.articles.get(article_id)
                if entry is not None and entry["t"] < cutoff:
                    del self.articles[article_id]
                    if (self.exact.get(entry["fingerprint"]) or {}).get("id") == article_id:
                        del self.exact[entry["fingerprint"]]
            for story_id in noted["stories"]:
                story = self.stories.get(story_id)
                if story is not None and story["last_update"] < cutoff:
                    del self.stories[story_id]
            del self.hours[hour]


def _merged(candidates: list[Candidate]) -> list[Candidate]:
    """One row per indexed article (partitions may report the same one), in stream order.

    Stream order, not arrival order, is what makes ties go the same way for any number of partitions.
    """
    return sorted({candidate[3]: candidate for candidate in candidates}.values(), key=lambda c: c[3])


def _best(candidates: list[Candidate], column: int) -> Candidate | None:
    """The candidate with the highest value in `column` (the first one on ties), or None."""
    best = None
    for candidate in candidates:
        if best is None or candidate[column] > best[column]:
            best = candidate
    return best


def _story_entry(story: StoryEntry | None, article: CleanArticle, time: float, trigrams: list[int]) -> StoryEntry:
    """A new story entry (never the old dict mutated: tables persist only assigned values)."""
    if story is None:
        story = {"first_seen": time, "last_update": time, "versions": [], "sources": [],
                 "latest_by_source": {}, "headline": article.title, "trigrams": []}
    sources, latest = list(story["sources"]), dict(story["latest_by_source"])
    if article.source:
        if article.source.casefold() not in latest:
            sources.append(article.source)
        latest[article.source.casefold()] = article.id
    return {
        **story,
        "last_update": max(story["last_update"], time),
        "versions": [*story["versions"], article.id],
        "sources": sources,
        "latest_by_source": latest,
        "trigrams": sentences.merged_trigrams(story["trigrams"], trigrams),
    }
