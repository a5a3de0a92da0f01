"""The schema of every topic: one Faust record per topic, each with a `schema_version`."""
from __future__ import annotations

from datetime import datetime

import faust

from streams import codecs  # noqa: F401  (registers the "orjson" codec records name below)

VERDICT_KINDS = ("new", "duplicate", "update", "same_story")
TRIGGERS = ("new_story", "new_development", "first_co_mention", "surge")
SIGNAL_TRIGGERS = ("first_co_mention", "surge")  # decided by the entities stage, across stories
DIGEST_TRIGGER = "digest"  # the trigger of an alert standing for a rule's alerts of one digest period


class RawArticle(faust.Record, serializer="orjson", namespace="wirewatch.raw"):
    """An article as it entered, field names normalised from the feed's (see `streams.raw`); nothing parsed yet."""

    schema_version: int = 1
    id: str | None = None           # the producer's id, if it had one
    title: str | None = None
    text: str | None = None         # plain or wire text
    html: str | None = None         # a whole page or a fragment
    published: str | None = None    # as given; the clean stage parses it
    source: str | None = None       # outlet or wire, e.g. "Bloomberg"
    url: str | None = None
    language: str | None = None
    dateline: str | None = None     # a wire's separate dateline field, e.g. "SALVADOR, Feb 26 -"
    origin: str | None = None       # file path or feed the article was read from
    ingested_at: float = 0.0        # unix seconds when ingest sent it: start of end-to-end latency


class CleanArticle(faust.Record, serializer="orjson", namespace="wirewatch.clean", isodates=True):
    """An article after cleaning: the text a reader would see, plus what we learned about it."""

    id: str                         # producer's id, else hash of source + normalised text (+ version index)
    title: str
    paragraphs: list[str]
    schema_version: int = 1
    source: str | None = None
    published: datetime | None = None  # UTC
    url: str | None = None
    language: str | None = None
    byline: str | None = None
    dateline: str | None = None     # the dateline as written, e.g. "SALVADOR, Feb 26 -"
    place: str | None = None        # the dateline's place, e.g. "SALVADOR"
    original_title: str | None = None  # the headline as written when `title` had to be made readable (all caps)
    update_note: str | None = None  # "(Updates with …)" lines, kept as information
    contacts: list[str] = []        # "To contact the reporter…" lines
    credits: list[str] = []         # photo captions and credits, "With assistance from…", translation notices
    copyright: str | None = None    # "©2019 Bloomberg L.P."
    origin: str | None = None
    ingested_at: float = 0.0
    truncated: bool = False         # the body was cut to WIREWATCH_MAX_CLEAN_ARTICLE_BYTES; the id is the whole text's

    @property
    def body(self) -> str:
        """The body as one text, paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)

    @property
    def full_text(self) -> str:
        """Title, blank line, body: the text the tag stage reads; entity offsets point into it."""
        return f"{self.title}\n\n{self.body}" if self.title else self.body

    @property
    def delivery_key(self) -> str:
        """This ingest of the article: what an at-least-once replay repeats and an ingest of the same text does not."""
        return f"{self.id}@{self.ingested_at!r}"


class DedupVerdict(faust.Record, serializer="orjson", namespace="wirewatch.verdict"):
    """What dedup decided about one article, and why."""

    kind: str                       # one of VERDICT_KINDS
    story_id: str                   # id of the story's first article
    similarity: float = 0.0         # duplicate/update: word 5-shingle Jaccard to `matched_id`; same_story: story score
    matched_id: str | None = None   # the earlier article this one duplicates, updates or joins
    added_sentences: list[str] = []  # for update / same_story: sentences the story did not have


class DedupedArticle(faust.Record, serializer="orjson", namespace="wirewatch.deduped", isodates=True):
    """A clean article with its dedup verdict (duplicates included, so the feed can show them)."""

    article: CleanArticle
    verdict: DedupVerdict
    schema_version: int = 1


class DedupManifest(faust.Record, serializer="orjson", namespace="wirewatch.dedup.manifest", isodates=True):
    """Dedup's router to its decider: one clean article in stream order, and which index partitions it probed.

    The decider gives verdicts in `seq` order once every partition in `partitions` has answered.
    """

    seq: int                        # the article's offset in the clean topic: its place in the stream
    article: CleanArticle
    partitions: list[int]           # index partitions sent a probe; empty for an article with no body
    stream_time: float              # unix seconds: the newest publish (else ingest) time seen up to this article
    fingerprint: str = ""           # sha256 of the normalised body (see agents.dedup.signatures)
    sketch: str = ""                # the body's word 5-shingle sketch, packed (signatures.sketch, codecs.pack_hashes)
    schema_version: int = 2


class DedupProbe(faust.Record, serializer="orjson", namespace="wirewatch.dedup.probe"):
    """One article's LSH band keys that fall on one index partition."""

    seq: int
    article_id: str
    time: float                     # unix seconds: the article's publish time, else its ingest time
    stream_time: float              # entries older than stream_time minus the retention are never candidates
    band_keys: list[str]
    schema_version: int = 2


class DedupCandidates(faust.Record, serializer="orjson", namespace="wirewatch.dedup.candidates"):
    """One index partition's answer to a probe: the earlier articles sharing one of its bands."""

    seq: int
    partition: int
    candidates: list[list]          # [article_id, seq] of each earlier live article in a shared bucket
    schema_version: int = 2


class EntityMention(faust.Record, serializer="orjson", namespace="wirewatch.entity", include_metadata=False):
    """One entity mention; offsets index `CleanArticle.full_text`. Serialised without Faust's type tag, which would
    double the size of an article's mentions (the tagged record's field type says what they are)."""

    start: int
    end: int
    text: str                       # the mention as written, e.g. "Trump"
    label: str                      # model label after document-level consistency, e.g. PERSON
    canonical: str                  # the entity's full name within the article, e.g. "Donald Trump"


class TaggedArticle(faust.Record, serializer="orjson", namespace="wirewatch.tagged", isodates=True):
    """A deduped article with its entities (a duplicate carries its original's)."""

    article: CleanArticle
    verdict: DedupVerdict
    schema_version: int = 1
    entities: list[EntityMention] = []
    truncated: bool = False         # the last mentions in the text were left out to fit WIREWATCH_MAX_MESSAGE_BYTES

    @property
    def canonical_entities(self) -> dict[str, str]:
        """Canonical name → label, one entry per entity in the article."""
        return {e.canonical: e.label for e in self.entities}


class EntitySighting(faust.Record, serializer="orjson", namespace="wirewatch.entity.sighting"):
    """One entity in one tagged article: what the registry of entities across the stream folds in."""

    entity_id: str                  # label and canonical name as a slug, e.g. "person:donald-trump"
    name: str                       # the canonical name, e.g. "Donald Trump"
    label: str
    written: list[str]              # the forms the article wrote it in, e.g. ["Donald Trump", "Trump"]
    mentions: int
    salience: float                 # mentions weighted by place: headline 3, lead paragraph 2, elsewhere 1
    article_id: str
    story_id: str
    seen: str                       # the article's time (published, else ingested), ISO 8601 UTC
    others: list[list[str]] = []    # the article's other entities: [entity_id, canonical name]
    title: str = ""
    source: str | None = None
    url: str | None = None


class EntitySignal(faust.Record, serializer="orjson", namespace="wirewatch.entity.signal"):
    """A rule's cross-story trigger fired (`surge`, `first_co_mention`), found by the entities stage; the alert
    stage turns it into an alert of the article that set it off."""

    rule_id: str
    trigger: str                    # one of SIGNAL_TRIGGERS
    development: str                # what makes it new, for the idempotency key: e.g. "surge:org:acme:2019-06-30T07"
    entities: list[str]             # canonical names: the surging entity, or the pair
    detail: str                     # for people: "42 mentions in the hour from 07:00, 5.1× the mean of the 24 before"
    article_id: str
    story_id: str
    seen: str                       # the article's time, ISO 8601 UTC: cooldowns and throttles run on it
    title: str = ""
    source: str | None = None
    url: str | None = None


class Alert(faust.Record, serializer="orjson", namespace="wirewatch.alert"):
    """A rule fired on an article; it explains itself and carries a key that makes delivery idempotent."""

    idempotency_key: str            # sha256 of rule + story + development; a replay yields the same key
    rule_id: str
    description: str
    trigger: str                    # one of TRIGGERS, or DIGEST_TRIGGER
    story_id: str                   # empty for a digest
    article_id: str
    title: str
    schema_version: int = 1
    source: str | None = None
    url: str | None = None
    verdict: str = "new"
    matched_entities: list[str] = []
    matched_keywords: list[str] = []
    new_sentences: list[str] = []   # new_development: the added sentences that carry new facts
    new_facts: list[str] = []       # new_development: the entities, numbers and “quotations” the story lacked
    story_links: list[str] = []     # links to the story's other articles, the newest first
    created_at: float = 0.0         # unix seconds
    ingested_at: float = 0.0
    detail: str = ""                # why now, for people: the new facts, or why a surge / first co-mention fired
    members: list[str] = []         # a digest: the idempotency keys of the alerts it stands for


class DigestTick(faust.Record, serializer="orjson", namespace="wirewatch.digest.tick"):
    """Sent to each partition of the digest topic every few seconds: table writes must come from the stream, so
    the digest agent sends the digests that are due when a tick reaches it."""

    at: float                       # unix seconds, when it was sent


class DeadLetter(faust.Record, serializer="orjson", namespace="wirewatch.deadletter"):
    """Input a stage could not handle: the original bytes and why, so nothing is lost."""

    stage: str
    reason: str                     # short, bounded code (also the metric label), e.g. "malformed_json"
    error: str                      # the human-readable message
    original_b64: str               # the original message value, base64 (its first 256 KiB if larger)
    schema_version: int = 1
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    origin: str | None = None       # file or feed it came from, when known
    original_size: int = 0          # bytes of the whole original
    original_sha256: str = ""       # of the whole original, to match it with its source
    truncated: bool = False         # True when original_b64 holds only the start of the original
    failed_at: float = 0.0
