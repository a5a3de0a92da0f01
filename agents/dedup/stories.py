"""Story matching for dedup's decider: which story an article belongs to, decided in stream order.

An article is reduced once to its candidate terms (`story_features`: content words and numbers with their counts,
names first) and its outlet. The matcher weights the terms by TF-IDF, document frequencies counted over the live
articles, and scores each candidate story by

    score = (1 - names_share) * cos(article, centroid) + names_share * cos(article names, centroid names)

where a story's centroid is the sum of its articles' unit vectors (its heaviest `centroid_terms` terms kept) and
names are words capitalised mid-sentence, and numbers: who, where, how many, what separates two events of one
kind. The article joins the candidate whose score clears its required score by most; that requirement is
`match_threshold`, then:
- another outlet's story: `other_outlet_factor` × the threshold. Outlets word one event each their own way (their
  own headline, their own angle), so their articles share fewer words than one outlet's follow-ups do;
- time as news works: a story stays open while articles keep arriving, and the required score rises with the quiet
  time since its newest article beyond `quiet_grace`, `quiet_decay` per doubling of (1 + that / `decay_unit`); past
  `story_window`, when there is one, it takes nothing. For the article's own outlet the clock runs from that
  outlet's first article in the story, after one `decay_unit`, at `same_outlet_decay`: an outlet's look-alike
  wires weeks apart are two stories, not one story that never closes;
- the outlet's own story must also hold one of the headline's names (words the body capitalises), or, for a
  templated wire whose body names no one, one of its `headline_anchors` rarest headline words: two companies'
  quarterly results from one wire service stay two stories. Another outlet's headline is its own, so it is not
  asked.
Candidates are the stories posted under the article's most salient terms.

Stored in two mappings (Faust tables in the agent), written only by assignment, one write each per article:

    docs:    article id → StoryDoc (its candidate terms, its stream hour, its stream position)
    stories: story id → StoryVector (centroid {term: weight}, its name terms, both norms, articles, stream hour and
             position of its last article, newest publish time (ISO) or None, its newest article's id, and
             {outlet: unix time of its first article in the story} for its first 16 outlets)
(value types in agents.dedup.state, with their stored forms.) A story stored before its newest article and outlets
were kept reads as having no outlets; a doc stored before positions were kept sorts first in its hour.

Forgetting: what is older than the dedup retention goes, except the newest `memory` stories and `memory` docs,
which stay however old (so a quiet stream keeps its stories and its document frequencies); the oldest go first.
It is applied after every article (`expire`), so the state after an article depends only on the stream before it.

Derived from them in memory: document frequencies (integer counts over the live docs), postings (term → live
stories whose centroid holds it, least recently updated first) and the hour indexes expiry walks. They are rebuilt
from the mappings after `forget_derived()` (a table recovery) and come out equal to the live ones, because counts
are integers and postings follow the stored order: verdicts do not depend on where or when a worker restarted.
"""
from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from agents.dedup.hours import HOUR
from agents.dedup.state import StoryDoc, StoryVector
from streams.records import CleanArticle
from streams.settings import Settings
from streams.state import TypedTable
from streams.times import as_utc

CANDIDATE_TERMS = 40    # terms kept per article, names first (bounds every per-article loop)
LOOKUP_TERMS = 12       # the article's heaviest terms whose postings give the candidate stories
POSTINGS_READ = 16      # most recently updated stories read from each of those postings
CANDIDATE_STORIES = 8   # stories scored in full: those sharing the most weight with the article
OUTLETS_KEPT = 16       # outlets a story remembers (the first ones): a later one counts as another outlet

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
    """What story matching needs from one article (pure: computed once, from the article alone).

    terms:    (term, count, is_name) for at most CANDIDATE_TERMS terms: names first, then count, then first
              appearance; a name is a word capitalised mid-sentence (at least half the time) or a number
    headline: the title's distinct content words, in order
    headline_names: those of them the body capitalises mid-sentence (who and where the headline is about)
    outlet:   the source, case-folded ("" when unknown: an unknown outlet is nobody's own)
    """

    terms: tuple[tuple[str, int, bool], ...]
    headline: tuple[str, ...] = ()
    headline_names: tuple[str, ...] = ()
    outlet: str = ""


@dataclass(frozen=True)
class MatcherSettings:
    """The numbers story matching decides with (chosen on Giveme5W1H dev, ECB+ train+dev and Reuters-21578).

    The defaults are a bare matcher (no memory past the retention, a 72-hour window); the stage's own come from
    the wirewatch settings (`from_settings`).
    """

    match_threshold: float = 0.20       # WIREWATCH_STORY_THRESHOLD
    names_share: float = 0.25           # weight of the names-only cosine in the score
    centroid_terms: int = 60            # heaviest terms kept in a story's centroid
    headline_anchors: int = 2           # rarest headline words of which the outlet's own story must hold one
    story_window: timedelta | None = timedelta(hours=72)  # WIREWATCH_STORY_WINDOW_HOURS: longest quiet time
    other_outlet_factor: float = 0.8    # another outlet's story needs this share of the threshold
    quiet_decay: float = 0.02           # added to the threshold per doubling of 1 + quiet time / decay_unit
    same_outlet_decay: float = 0.03     # the same, from the outlet's first article in the story
    decay_unit: timedelta = timedelta(hours=24)
    quiet_grace: timedelta = timedelta(hours=72)  # quiet time that costs nothing: a news cycle
    memory: int = 0                     # WIREWATCH_STORY_MEMORY: newest stories and docs kept past the retention

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> MatcherSettings:
        """Matcher settings from the wirewatch settings (threshold, window, memory), then `overrides`."""
        return cls(**{"match_threshold": settings.story_threshold,
                      "story_window": timedelta(hours=settings.story_window_hours) if settings.story_window_hours
                      else None,
                      "memory": settings.story_memory, **overrides})


def story_features(article: CleanArticle, max_terms: int = CANDIDATE_TERMS) -> StoryFeatures:
    """The article's candidate terms: the title counts twice, as a headline states the event."""
    body = ".\n".join(article.paragraphs)  # a paragraph break ends a sentence
    title_tokens = _TOKEN.findall(article.title.lower())
    tokens = [*title_tokens, *_TOKEN.findall(body.lower())]
    counts = Counter(tokens)
    counts.update(title_tokens)
    body_capitals = [w.lower() for w in _MID_SENTENCE_CAPITAL.findall(body)]
    capitalised = Counter(body_capitals)
    capitalised.update(w.lower() for w in _MID_SENTENCE_CAPITAL.findall(article.title) for _ in range(2))
    stop = _STOP
    kept = [t for t in counts if t not in stop and (len(t) > 2 or t[0].isdigit())]
    names = {t for t in kept if t[0].isdigit() or 2 * capitalised[t] >= counts[t]}
    first_seen = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    ranked = sorted(kept, key=lambda t: (t not in names, -counts[t], first_seen[t]))[:max_terms]
    headline = tuple(t for t in dict.fromkeys(title_tokens) if t not in stop and (len(t) > 2 or t[0].isdigit()))
    in_body = set(body_capitals)
    return StoryFeatures(tuple((t, counts[t], t in names) for t in ranked), headline,
                         tuple(t for t in headline if t in in_body), (article.source or "").strip().casefold())


@dataclass
class _Vector:
    """An article's terms weighted by TF-IDF against the current frequencies (unit length)."""

    weights: dict[str, float]
    names: dict[str, float]        # the name terms' weights, unit length on their own


@dataclass
class DerivedState:
    """What is computed from the stored mappings and kept only in memory (see the module docstring)."""

    frequencies: Counter[str] = field(default_factory=Counter)
    docs: int = 0
    postings: dict[str, dict[str, None]] = field(default_factory=dict)  # insertion order: least recently updated first
    doc_hours: dict[int, list[str]] = field(default_factory=dict)
    story_hours: dict[int, set[str]] = field(default_factory=dict)
    stories: int = 0  # live stories

    def count(self, article_id: str, doc: StoryDoc, sign: int) -> None:
        """Count (sign 1) or uncount (sign -1) a doc's terms; a term no live doc has leaves the counts."""
        frequencies = self.frequencies
        for term in doc.terms:
            frequency = frequencies[term] + sign
            if frequency:
                frequencies[term] = frequency
            else:
                del frequencies[term]
        self.docs += sign
        if sign > 0:
            self.doc_hours.setdefault(doc.hour, []).append(article_id)

    def post(self, story_id: str, story: StoryVector, before: StoryVector | None) -> None:
        """Move the story to the newest end of the postings of its centroid's terms; unpost the terms it lost."""
        for term in set(before.centroid) - set(story.centroid) if before else ():
            self._unpost(term, story_id)
        for term in story.centroid:
            posting = self.postings.setdefault(term, {})
            posting.pop(story_id, None)
            posting[story_id] = None
        if before is not None:
            self.story_hours.get(before.hour, set()).discard(story_id)
        else:
            self.stories += 1
        self.story_hours.setdefault(story.hour, set()).add(story_id)

    def unpost(self, story_id: str, story: StoryVector) -> None:
        for term in story.centroid:
            self._unpost(term, story_id)
        self.stories -= 1

    def _unpost(self, term: str, story_id: str) -> None:
        posting = self.postings.get(term)
        if posting is not None:
            posting.pop(story_id, None)
            if not posting:
                del self.postings[term]


class StoryMatcher:
    """Streaming story matcher over two mappings written only by assignment (see the module docstring)."""

    def __init__(self, docs: MutableMapping[str, Any], stories: MutableMapping[str, Any],
                 settings: MatcherSettings = MatcherSettings()) -> None:
        self.docs = TypedTable(docs, StoryDoc)
        self.stories = TypedTable(stories, StoryVector)
        self.settings = settings
        self._derived: DerivedState | None = None
        self._weighed: tuple[StoryFeatures, _Vector] | None = None  # `match`'s vector, for the `add` that follows

    def forget_derived(self) -> None:
        """Drop what is kept in memory: the mappings may have changed hands (called after table recovery)."""
        self._derived = self._weighed = None

    # ---- matching ----

    def match(self, features: StoryFeatures, published: datetime | None) -> tuple[str, float] | None:
        """(story id, score) of the best live story for the article, or None when it starts a new story.

        `published` applies the story window; None matches without it.
        """
        if not features.terms:
            return None
        derived = self.derived_state()
        vector = self._vector(features, derived)
        anchors = self._anchors(features, derived)
        published_at = as_utc(published).timestamp() if published else None
        best: tuple[str, float] | None = None
        best_margin = 0.0
        for story_id in self._candidates(vector, derived):
            story = self.stories.get(story_id)
            if story is None:
                continue
            own = features.outlet in story.outlets if features.outlet else False
            if own and anchors and not any(word in story.centroid for word in anchors):
                continue
            required = self.required_score(story, features.outlet, own, published_at)
            if required is None:
                continue
            score = self._score(vector, story)
            if score >= required and (best is None or score - required > best_margin):
                best, best_margin = (story_id, score), score - required
        return best

    def required_score(self, story: StoryVector, outlet: str, own: bool, published: float | None) -> float | None:
        """The score the story asks of an article (see the module docstring); None once it is past the window."""
        settings = self.settings
        required = settings.match_threshold
        outlets = story.outlets
        if outlet and outlets and not own:
            required *= settings.other_outlet_factor
        if published is None or story.published is None:
            return required  # unknown times: no window
        quiet = abs(published - datetime.fromisoformat(story.published).timestamp())
        if settings.story_window is not None and quiet > settings.story_window.total_seconds():
            return None
        unit = settings.decay_unit.total_seconds()
        if own:  # the outlet's clock: from its first article in the story, after one unit
            since_first = max(0.0, abs(published - outlets[outlet]) - unit)
            return required + settings.same_outlet_decay * math.log2(1.0 + since_first / unit)
        quiet = max(0.0, quiet - settings.quiet_grace.total_seconds())
        return required + settings.quiet_decay * math.log2(1.0 + quiet / unit)

    def _anchors(self, features: StoryFeatures, derived: DerivedState) -> list[str]:
        """Headline words of which a matched story must hold one: the names the body confirms, else the rarest.

        A headline word the body capitalises mid-sentence is a name; a templated wire's body names no one, and its
        rarest headline words (fewest live articles, then alphabetical) are what tells it from the next one.
        """
        if features.headline_names:
            return list(features.headline_names)
        frequency = derived.frequencies
        return sorted(features.headline, key=lambda word: (frequency[word], word))[:self.settings.headline_anchors]

    def _candidates(self, vector: _Vector, derived: DerivedState) -> list[str]:
        """Stories sharing the article's heaviest posted terms, most shared weight first (ties: story id)."""
        shared: dict[str, float] = {}
        posted = [t for t in vector.weights if t in derived.postings]  # a word no live story has finds nothing
        for term in sorted(posted, key=lambda t: (-vector.weights[t], t))[:LOOKUP_TERMS]:
            for story_id in itertools.islice(reversed(derived.postings[term]), POSTINGS_READ):
                shared[story_id] = shared.get(story_id, 0.0) + vector.weights[term]
        return sorted(shared, key=lambda s: (-shared[s], s))[:CANDIDATE_STORIES]

    def _score(self, vector: _Vector, story: StoryVector) -> float:
        """Cosine with the story's centroid, mixed with the article's names against it (over the story names' norm)."""
        centroid = story.centroid
        share = self.settings.names_share
        similarity = _dot(vector.weights, centroid) / story.norm if story.norm else 0.0
        if not share or not story.names_norm:
            return (1 - share) * similarity
        return (1 - share) * similarity + share * _dot(vector.names, centroid) / story.names_norm

    # ---- recording ----

    def add(self, story_id: str, article_id: str, features: StoryFeatures, published: datetime | None,
            seen: datetime, order: int) -> None:
        """Fold the article (at stream position `order`, stream time `seen`) into `story_id`, new or matched."""
        if not features.terms:
            return
        derived = self.derived_state()
        vector = self._vector(features, derived)  # weighed before the article counts itself
        self._weighed = None
        earlier = self.docs.get(article_id)
        if earlier is not None:  # the same id again with other text: it counts once, as it is now
            derived.count(article_id, earlier, -1)
        doc = StoryDoc([term for term, _, _ in features.terms], _hour_of(seen), order)
        self.docs[article_id] = doc
        derived.count(article_id, doc, 1)
        story = self.stories.get(story_id)
        outlets = dict(story.outlets) if story else {}
        if features.outlet and features.outlet not in outlets and len(outlets) < OUTLETS_KEPT:
            outlets[features.outlet] = round(as_utc(published or seen).timestamp())
        updated = _updated_story(story, vector, published, doc.hour, order, self.settings.centroid_terms,
                                 article_id, outlets)
        self.stories[story_id] = updated
        derived.post(story_id, updated, story)

    # ---- expiry ----

    def expire(self, before: datetime) -> int:
        """Forget articles seen, and stories last updated, in hours wholly before `before`, oldest first, except the
        newest `memory` of each; returns stories removed. The decider calls it before every article."""
        derived = self.derived_state()
        cutoff = _hour_of(before)
        keep = self.settings.memory
        while derived.docs > keep and derived.doc_hours and (hour := min(derived.doc_hours)) < cutoff:
            self._weighed = None
            hour_ids = derived.doc_hours[hour]
            live = [(doc.order, i) for i in hour_ids if (doc := self.docs.get(i)) is not None and doc.hour == hour]
            for _, article_id in sorted(live)[:derived.docs - keep]:
                derived.count(article_id, self.docs[article_id], -1)
                del self.docs[article_id]
            left = [i for i in hour_ids if (doc := self.docs.get(i)) is not None and doc.hour == hour]
            if left:
                derived.doc_hours[hour] = left
            else:
                del derived.doc_hours[hour]
        removed = 0
        while derived.stories > keep and derived.story_hours and (hour := min(derived.story_hours)) < cutoff:
            story_ids = derived.story_hours[hour]
            live = sorted((story.order, i) for i in story_ids if (story := self.stories.get(i)) is not None
                          and story.hour == hour)
            for _, story_id in live[:derived.stories - keep]:
                derived.unpost(story_id, self.stories[story_id])
                del self.stories[story_id]
                story_ids.discard(story_id)
                removed += 1
            story_ids.difference_update([i for i in story_ids if (story := self.stories.get(i)) is None
                                         or story.hour != hour])
            if not story_ids:
                del derived.story_hours[hour]
        return removed

    # ---- derived state and weights ----

    def derived_state(self) -> DerivedState:
        """The derived state, rebuilt from the mappings when it is not in memory."""
        if self._derived is None:
            derived = DerivedState()
            for article_id, doc in self.docs.items():
                derived.count(article_id, doc, 1)
            for story_id, story in sorted(self.stories.items(), key=lambda item: item[1].order):
                derived.post(story_id, story, None)
            self._derived = derived
        return self._derived

    def _vector(self, features: StoryFeatures, derived: DerivedState) -> _Vector:
        """The article's TF-IDF vector against the live articles' document frequencies."""
        if self._weighed is not None and self._weighed[0] is features:
            return self._weighed[1]
        docs, frequency = derived.docs, derived.frequencies
        raw = {term: (1.0 + math.log(count)) * (math.log((docs + 1.0) / (frequency[term] + 1.0)) + 1.0)
               for term, count, _ in features.terms}
        names = {t: raw[t] for t, _, is_name in features.terms if is_name}
        vector = _Vector(_unit(raw), _unit(names))
        self._weighed = (features, vector)
        return vector


def _updated_story(story: StoryVector | None, vector: _Vector, published: datetime | None, hour: int, order: int,
                   centroid_terms: int, last_article: str, outlets: dict[str, float]) -> StoryVector:
    """A new story value with the article folded in: centroid summed and cut to the heaviest terms."""
    centroid = dict(story.centroid) if story else {}
    for term, weight in vector.weights.items():
        centroid[term] = centroid.get(term, 0.0) + weight
    kept = sorted(centroid, key=lambda t: (-centroid[t], t))[:centroid_terms]
    names = set(story.names) if story else set()
    names.update(vector.names)
    rounded = {t: round(centroid[t], 4) for t in kept}
    kept_names = sorted(names & set(kept))
    return StoryVector(centroid=rounded, names=kept_names,
                       norm=round(math.sqrt(sum(w * w for w in rounded.values())), 6),
                       names_norm=round(math.sqrt(sum(rounded[t] ** 2 for t in kept_names)), 6),
                       articles=(story.articles if story else 0) + 1, hour=max(hour, story.hour) if story else hour,
                       order=order, published=_newest(story.published if story else None, published),
                       last_article=last_article, outlets=outlets)


def _newest(stored: str | None, published: datetime | None) -> str | None:
    """The later of a stored ISO time and `published`, as ISO (None when both are unknown)."""
    if published is None:
        return stored
    current = as_utc(published)
    if stored is not None and datetime.fromisoformat(stored) >= current:
        return stored
    return current.isoformat()


def _dot(vector: dict[str, float], other: dict[str, float]) -> float:
    """Their dot product, summed in `vector`'s order over the shared terms (adding the others' 0.0 changes nothing)."""
    return sum([w * other[t] for t, w in vector.items() if t in other])


def _unit(weights: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm else {}


def _hour_of(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() // HOUR)
