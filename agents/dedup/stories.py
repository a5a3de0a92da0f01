"""Story matching for dedup's decider: which live story an article belongs to, decided in stream order.

An article is reduced once to its candidate terms (content words and numbers, with counts, in salience order; see
`story_features`). The matcher weights them by TF-IDF, with document frequencies learnt from the stream itself, and
compares the article's vector with each candidate story's centroid (the sum of its articles' unit vectors):

    score = (1 - names_share) * cos(article, story) + names_share * cos(article names, story names)

"Names" are capitalised words met mid-sentence and numbers: who, where, how many. They are what separates two
events of the same kind (two earthquakes, two arrests), which share most of their other vocabulary. The best
candidate at or above `match_threshold` is the article's story, if its last article is within the story window
(when both times are known). Candidates are the stories listed under the article's terms (an inverted index).

State lives in three plain mappings (Faust tables in the agent), written only by assignment:

    terms:    term → [document frequency, hour of that count, [ids of live stories with the term, newest last]]
    stories:  story id → {"c": {term: weight}, "names": [name terms of c], "norm": |c|, "names_norm": |names of c|,
                          "n": articles, "hour": last update hour, "published": newest publish time (ISO) or None}
    timeline: "h:{hour}" → number of entries for that hour; "h:{hour}:{i}" → a story id updated in that hour;
              "docs" → [document count, hour]; "oldest" → the oldest hour that may still hold entries;
              "now" → the newest hour seen

Document frequencies (and the document count) decay with a half-life in stream hours, so IDF follows current news;
a term is forgotten with the last live story whose centroid holds it. Expiry walks the timeline from the oldest
hour, so it touches only what it removes. Everything is deterministic: no randomness, no salted `hash()`, ties are
broken by term or story id.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from agents.dedup.route import as_utc
from streams.records import CleanArticle
from streams.settings import Settings

# Defaults the lead may move into Settings (names proposed in brackets).
MATCH_THRESHOLD = 0.20      # [story_match_threshold] score at which an article joins a story
NAMES_SHARE = 0.25          # [story_names_share] weight of the names-only cosine in the score
CANDIDATE_TERMS = 40        # [story_terms] terms kept per article, in salience order (bounds reads and writes)
CENTROID_TERMS = 60         # [story_centroid_terms] heaviest terms kept in a story centroid
CANDIDATE_STORIES = 8       # stories scored in full per article: the ones sharing most weight with it
POSTING_CAP = 16            # newest live stories remembered per term for candidate lookup
DF_HALFLIFE_HOURS = 72.0    # [story_df_halflife_hours] document frequencies halve over this much stream time

EXTRA_STOP_WORDS = frozenset({
    "said", "says", "told", "according", "reported", "report", "reports", "new", "year", "years", "time", "today",
    "yesterday", "tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "week",
    "http", "https", "www", "com", "html", "htm", "php", "updated", "published", "posted", "gmt", "est", "edt",
})
_STOP = frozenset(STOP_WORDS) | EXTRA_STOP_WORDS
# Words, and numbers such as 5.6 or 1,098; an apostrophe splits ("Reid's" gives "reid" and a dropped "s").
_TOKEN = re.compile(r"\w+(?:[-.,]\w+)*")
# A capitalised word right after a word, a comma or a semicolon (not after a full stop): mid-sentence, so a name.
_MID_SENTENCE_CAPITAL = re.compile(r"(?<=[A-Za-z0-9,;)])\s+([A-Z]\w*(?:-\w+)*)")


@dataclass(frozen=True)
class StoryFeatures:
    """What story matching needs from one article: its candidate terms, most salient first.

    terms: (term, count, is_name) for at most CANDIDATE_TERMS terms, ordered by names first, then count, then first
    appearance; a name is a word capitalised mid-sentence (at least half the time) or a number.
    """

    terms: tuple[tuple[str, int, bool], ...]


@dataclass(frozen=True)
class MatcherSettings:
    """The numbers story matching decides with (module defaults; see the settings names proposed above)."""

    match_threshold: float = MATCH_THRESHOLD
    names_share: float = NAMES_SHARE
    centroid_terms: int = CENTROID_TERMS
    df_halflife_hours: float = DF_HALFLIFE_HOURS
    story_window: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> MatcherSettings:
        """Matcher settings with the story window from the wirewatch settings."""
        return cls(**{"story_window": timedelta(hours=settings.story_window_hours), **overrides})


def story_features(article: CleanArticle, max_terms: int = CANDIDATE_TERMS) -> StoryFeatures:
    """The article's candidate terms (pure): the title counts twice, as a headline states the event."""
    texts = [article.title, article.title, *article.paragraphs] if article.title else list(article.paragraphs)
    text = ".\n".join(texts)  # a paragraph break ends a sentence
    tokens = _TOKEN.findall(text.lower())
    counts = Counter(tokens)
    first_seen = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    capitalised = Counter(w.lower() for w in _MID_SENTENCE_CAPITAL.findall(text))
    kept = [t for t in counts if t not in _STOP and (len(t) > 2 or t[0].isdigit())]
    names = {t for t in kept if t[0].isdigit() or 2 * capitalised[t] >= counts[t]}
    ranked = sorted(kept, key=lambda t: (t not in names, -counts[t], first_seen[t]))[:max_terms]
    return StoryFeatures(tuple((t, counts[t], t in names) for t in ranked))


@dataclass
class _Vector:
    """An article's terms weighted by TF-IDF against the current frequencies (unit length)."""

    weights: dict[str, float]
    names: dict[str, float]        # the name terms' weights, unit length on their own


class StoryMatcher:
    """Streaming story matcher over three mappings written only by assignment (see the module docstring)."""

    def __init__(self, terms: MutableMapping[str, Any], stories: MutableMapping[str, Any],
                 timeline: MutableMapping[str, Any], settings: MatcherSettings = MatcherSettings()) -> None:
        self.terms = terms
        self.stories = stories
        self.timeline = timeline
        self.settings = settings
        self._cached: tuple[StoryFeatures, int, _Vector] | None = None

    # ---- matching ----

    def match(self, features: StoryFeatures, published: datetime | None,
              seen: datetime | None = None) -> tuple[str, float] | None:
        """(story id, score) of the best live story for the article, or None when it starts a new story.

        `published` applies the story window; `seen` (publish time, else ingest time) is the stream time that
        decays document frequencies, default `published`.
        """
        if not features.terms:
            return None
        hour = self._hour(seen or published)
        vector = self._vector(features, hour)
        published_utc = as_utc(published) if published else None
        best: tuple[str, float] | None = None
        for story_id in self._candidates(vector):
            story = self.stories.get(story_id)
            if story is None or not self._within_window(published_utc, story):
                continue
            score = self._score(vector, story)
            if score >= self.settings.match_threshold and (best is None or score > best[1]):
                best = (story_id, score)
        return best

    def _candidates(self, vector: _Vector) -> list[str]:
        """Stories sharing key terms with the article, most shared weight first (ties: story id)."""
        shared: dict[str, float] = {}
        for term, weight in vector.weights.items():
            entry = self.terms.get(term)
            for story_id in entry[2] if entry else ():
                shared[story_id] = shared.get(story_id, 0.0) + weight
        ranked = sorted(shared, key=lambda s: (-shared[s], s))
        return ranked[:CANDIDATE_STORIES]

    def _within_window(self, published: datetime | None, story: dict[str, Any]) -> bool:
        if published is None or story["published"] is None:
            return True  # unknown times: no window
        return abs(published - datetime.fromisoformat(story["published"])) <= self.settings.story_window

    def _score(self, vector: _Vector, story: dict[str, Any]) -> float:
        """Cosine with the story's centroid, mixed with the article's names against it (over the story names' norm)."""
        centroid: dict[str, float] = story["c"]
        share = self.settings.names_share
        similarity = _dot(vector.weights, centroid) / story["norm"] if story["norm"] else 0.0
        if not share or not story["names_norm"]:
            return (1 - share) * similarity
        return (1 - share) * similarity + share * _dot(vector.names, centroid) / story["names_norm"]

    # ---- recording ----

    def add(self, story_id: str, features: StoryFeatures, published: datetime | None,
            seen: datetime | None = None) -> None:
        """Fold the article into `story_id` (new or matched): frequencies, postings, centroid, timeline.

        Each key is assigned at most once: one write per article term, per term leaving the centroid, for the
        story, the document count, and (first update of the story in an hour) two or three timeline keys.
        """
        if not features.terms:
            return
        hour = self._hour(seen or published)
        vector = self._vector(features, hour)
        story = self.stories.get(story_id)
        updated = _updated_story(story, vector, published, hour, self.settings.centroid_terms)
        old_terms = set(story["c"]) if story else set()
        new_terms = set(updated["c"])
        for term in sorted(set(vector.weights) | (old_terms - new_terms)):
            self._write_term(term, story_id, hour, counted=term in vector.weights, held=term in new_terms)
        docs = self.timeline.get("docs")
        self.timeline["docs"] = [self._decayed(docs, hour) + 1.0, hour]
        self.stories[story_id] = updated
        if story is None or updated["hour"] != story["hour"]:
            self._enter_timeline(story_id, updated["hour"])
        self._cached = None

    def _write_term(self, term: str, story_id: str, hour: int, counted: bool, held: bool) -> None:
        """One assignment (or deletion) of a term entry: count the article, post or unpost the story.

        A term is forgotten, frequency included, when no live story's centroid holds it any more.
        """
        entry = self.terms.get(term)
        frequency, updated_hour, postings = entry if entry else (0.0, hour, [])
        if counted:
            frequency, updated_hour = self._decayed(entry, hour) + 1.0, hour
        if held:
            postings = [s for s in postings if s != story_id][-(POSTING_CAP - 1):] + [story_id]
        else:
            postings = [s for s in postings if s != story_id]
        if postings:
            self.terms[term] = [frequency, updated_hour, postings]
        elif entry is not None:
            del self.terms[term]

    def _enter_timeline(self, story_id: str, hour: int) -> None:
        """Record that the story was updated in `hour`, so expiry can find it without a scan."""
        count = self.timeline.get(f"h:{hour}", 0)
        self.timeline[f"h:{hour}:{count}"] = story_id
        self.timeline[f"h:{hour}"] = count + 1
        if "oldest" not in self.timeline or self.timeline["oldest"] > hour:
            self.timeline["oldest"] = hour
        if self.timeline.get("now", hour) <= hour:
            self.timeline["now"] = hour

    # ---- expiry ----

    def expire(self, before: datetime) -> int:
        """Forget stories not updated since `before` (and terms no live story holds); returns stories removed."""
        cutoff = _hour_of(before)
        hour = self.timeline.get("oldest")
        removed = 0
        if hour is None:
            return 0
        last = min(cutoff - 1, self.timeline.get("now", hour))
        while hour <= last:
            removed += self._expire_hour(hour)
            hour += 1
        self.timeline["oldest"] = hour
        return removed

    def _expire_hour(self, hour: int) -> int:
        """Remove the stories whose last update was in `hour`, and the hour's timeline entries."""
        removed = 0
        for i in range(self.timeline.get(f"h:{hour}", 0)):
            story_id = self.timeline.pop(f"h:{hour}:{i}")
            story = self.stories.get(story_id)
            if story is not None and story["hour"] <= hour:
                for term in sorted(story["c"]):
                    self._write_term(term, story_id, hour, counted=False, held=False)
                del self.stories[story_id]
                removed += 1
        self.timeline.pop(f"h:{hour}", None)
        return removed

    # ---- weights ----

    def _vector(self, features: StoryFeatures, hour: int) -> _Vector:
        """The article's TF-IDF vector; cached for `add` right after `match` (no state changes in between)."""
        if self._cached is not None and self._cached[0] is features and self._cached[1] == hour:
            return self._cached[2]
        docs = self._decayed(self.timeline.get("docs"), hour)
        raw: dict[str, float] = {}
        for term, count, _ in features.terms:
            frequency = self._decayed(self.terms.get(term), hour)
            raw[term] = (1.0 + math.log(count)) * (math.log((docs + 1.0) / (frequency + 1.0)) + 1.0)
        names = {t: raw[t] for t, _, is_name in features.terms if is_name}
        vector = _Vector(_unit(raw), _unit(names))
        self._cached = (features, hour, vector)
        return vector

    def _decayed(self, entry: list[Any] | None, hour: int) -> float:
        """A [count, hour] value decayed to `hour` (no decay backwards or when times are unknown)."""
        if not entry:
            return 0.0
        elapsed = max(0, hour - entry[1])
        return entry[0] * 0.5 ** (elapsed / self.settings.df_halflife_hours) if elapsed else entry[0]

    def _hour(self, moment: datetime | None) -> int:
        """Stream hour of `moment`; without a time, the newest hour seen (0 at the start)."""
        return _hour_of(moment) if moment else self.timeline.get("now", 0)


def in_memory_matcher(settings: Settings | None = None, **overrides: Any) -> StoryMatcher:
    """A matcher over plain dicts (benchmarks, offline commands)."""
    matcher_settings = MatcherSettings.from_settings(settings, **overrides) if settings else MatcherSettings(**overrides)
    return StoryMatcher({}, {}, {}, matcher_settings)


def _updated_story(story: dict[str, Any] | None, vector: _Vector, published: datetime | None, hour: int,
                   centroid_terms: int) -> dict[str, Any]:
    """A new story value with the article folded in: centroid summed and cut to the heaviest terms."""
    centroid = dict(story["c"]) if story else {}
    for term, weight in vector.weights.items():
        centroid[term] = centroid.get(term, 0.0) + weight
    kept = sorted(centroid, key=lambda t: (-centroid[t], t))[:centroid_terms]
    names = set(story["names"]) if story else set()
    names.update(vector.names)
    newest = _newest(story["published"] if story else None, published)
    rounded = {t: round(centroid[t], 4) for t in kept}
    kept_names = sorted(names & set(kept))
    return {"c": rounded, "names": kept_names, "norm": round(math.sqrt(sum(w * w for w in rounded.values())), 6),
            "names_norm": round(math.sqrt(sum(rounded[t] ** 2 for t in kept_names)), 6),
            "n": (story["n"] if story else 0) + 1, "hour": max(hour, story["hour"]) if story else hour,
            "published": newest}


def _newest(stored: str | None, published: datetime | None) -> str | None:
    """The later of a stored ISO time and `published`, as ISO (None when both are unknown)."""
    if published is None:
        return stored
    current = as_utc(published)
    if stored is not None and datetime.fromisoformat(stored) >= current:
        return stored
    return current.isoformat()


def _dot(vector: dict[str, float], other: dict[str, float]) -> float:
    return sum(w * other.get(t, 0.0) for t, w in vector.items())


def _unit(weights: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm else {}


def _hour_of(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() // 3600)

