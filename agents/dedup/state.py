"""What dedup's tables hold: one typed value per table, read by full names, stored in its compact form.

Every assignment to a Faust table goes to its changelog, so the stored keys stay as short as they were ("t", "c");
each class converts at the table's edge (`from_stored`, `stored`; see streams.state.TypedTable). Values written by
earlier versions load: a key added later has a default ("o", "last", "src"). Values are never changed in place,
only replaced (a table sees assignments only); not frozen because a frozen dataclass is ~8x slower to build, and
dedup builds one per table read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.records import DedupVerdict


@dataclass(slots=True)
class BandEntry:
    """An article indexed on one index partition; stored as {"id", "t", "b"}."""

    article_id: str
    time: float             # unix seconds: the article's publish time, else its ingest time
    band_keys: list[str]    # its band keys that fall on this partition

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> BandEntry:
        return cls(stored["id"], stored["t"], stored["b"])

    def stored(self) -> dict[str, Any]:
        return {"id": self.article_id, "t": self.time, "b": self.band_keys}


@dataclass(slots=True)
class GivenVerdict:
    """The verdict an article delivery got, so a re-delivery gets it again; stored as the verdict's fields + "t"."""

    verdict: DedupVerdict
    time: float             # the article's time: expiry's clock

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> GivenVerdict:
        return cls(DedupVerdict(**{k: v for k, v in stored.items() if k != "t"}), stored["t"])

    def stored(self) -> dict[str, Any]:
        return {**self.verdict.asdict(), "t": self.time}


@dataclass(slots=True)
class ExactEntry:
    """The first article with a body fingerprint; stored as {"id", "t", "title"}."""

    article_id: str
    time: float             # when the fingerprint was last seen (a re-send keeps it alive)
    title: list[str]        # the first article's headline words (a marked revision compares them)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ExactEntry:
        return cls(stored["id"], stored["t"], stored["title"])

    def stored(self) -> dict[str, Any]:
        return {"id": self.article_id, "t": self.time, "title": self.title}


@dataclass(slots=True)
class ArticleEntry:
    """A recorded article; stored as {"story_id", "source", "t", "fingerprint", "sketch", "title", "grams"}."""

    story_id: str
    source: str | None
    time: float
    fingerprint: str        # sha256 of the normalised body
    sketch: str             # its word 5-shingle sketch, packed (codecs.pack_hashes, HASH32)
    title: list[str]        # its headline's distinct normalised words
    trigrams: str           # its sentences' word 3-gram hashes, packed (codecs.pack_hashes)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> ArticleEntry:
        return cls(stored["story_id"], stored["source"], stored["t"], stored["fingerprint"], stored["sketch"],
                   stored["title"], stored["grams"])

    def stored(self) -> dict[str, Any]:
        return {"story_id": self.story_id, "source": self.source, "t": self.time, "fingerprint": self.fingerprint,
                "sketch": self.sketch, "title": self.title, "grams": self.trigrams}


@dataclass(slots=True)
class StoryEntry:
    """A story the decider keeps articles of; stored as {"last_update", "versions"}."""

    last_update: float
    versions: list[str]     # its newest article ids, oldest first

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> StoryEntry:
        return cls(stored["last_update"], stored["versions"])

    def stored(self) -> dict[str, Any]:
        return {"last_update": self.last_update, "versions": self.versions}


@dataclass(slots=True)
class StoryDoc:
    """An article as story matching counts it; stored as {"terms", "hour", "o"}."""

    terms: list[str]        # its candidate terms
    hour: int               # its stream hour
    order: int = -1         # its stream position; -1 for a doc stored before positions were (sorts first)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> StoryDoc:
        return cls(stored["terms"], stored["hour"], stored.get("o", -1))

    def stored(self) -> dict[str, Any]:
        return {"terms": self.terms, "hour": self.hour, "o": self.order}


@dataclass(slots=True)
class StoryVector:
    """A story as story matching scores it; stored as {"c", "names", "norm", "names_norm", "n", "hour", "order",
    "published", "last", "src"}."""

    centroid: dict[str, float]  # term → summed weight of its articles' unit vectors, heaviest terms kept
    names: list[str]            # the centroid's name terms
    norm: float                 # |centroid|
    names_norm: float           # |the centroid's name terms|
    articles: int               # how many articles it holds
    hour: int                   # stream hour of its last article
    order: int                  # that article's stream position
    published: str | None       # newest publish time (ISO), None when none was known
    last_article: str | None = None  # its newest article's id (None: stored before it was kept)
    outlets: dict[str, float] = field(default_factory=dict)  # outlet → unix time of its first article there

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> StoryVector:
        return cls(stored["c"], stored["names"], stored["norm"], stored["names_norm"], stored["n"], stored["hour"],
                   stored["order"], stored["published"], stored.get("last"), stored.get("src") or {})

    def stored(self) -> dict[str, Any]:
        return {"c": self.centroid, "names": self.names, "norm": self.norm, "names_norm": self.names_norm,
                "n": self.articles, "hour": self.hour, "order": self.order, "published": self.published,
                "last": self.last_article, "src": self.outlets}
