"""Topic declarations: name, partition count, key and value schema of every topic, in one table."""
from __future__ import annotations

from dataclasses import dataclass

import faust
from aiokafka.partitioner import murmur2

from streams.records import (
    Alert,
    CleanArticle,
    DeadLetter,
    DedupCandidates,
    DedupedArticle,
    DedupManifest,
    DedupProbe,
    DigestTick,
    EntitySighting,
    EntitySignal,
    TaggedArticle,
)
from streams.settings import Settings

# Dedup judges the clean stream in one order: every clean article, and every message to dedup's decider, carries
# this one key. The LSH index itself is partitioned by band key (`dedup_probes`), so that part scales out.
DEDUP_SHARD_KEY = "index"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its suffix after the prefix, what its key is, and the record its values hold."""

    suffix: str
    key: str
    value_type: type[faust.Record] | tuple[type[faust.Record], ...] | None  # the schema (None for raw: a feed's
    # JSON object, see streams.raw; or a rule); a tuple where a topic carries several records, told apart by namespace
    partitions: int | None = None   # None: WIREWATCH_PARTITIONS
    compacted: bool = False         # cleanup.policy=compact: the topic holds the latest value per key
    dead_letters: bool = False      # kept WIREWATCH_DEADLETTER_RETENTION_HOURS, longer than articles


TOPIC_SPECS: dict[str, TopicSpec] = {
    "raw": TopicSpec("articles.raw", "the ingest run or feed: its articles keep their order to dedup", None),
    "clean": TopicSpec("articles.clean", f"`{DEDUP_SHARD_KEY}`: dedup judges one ordered stream", CleanArticle),
    "dedup_probes": TopicSpec("dedup.probes", "partition chosen by LSH band key (the key names it)", DedupProbe),
    "dedup_decide": TopicSpec("dedup.decide", f"`{DEDUP_SHARD_KEY}`: manifests and index answers, one partition",
                              (DedupManifest, DedupCandidates)),
    "deduped": TopicSpec("articles.deduped", "story_id: one story's articles stay in order", DedupedArticle),
    "tagged": TopicSpec("articles.tagged", "story_id: alert state per story lives on one partition", TaggedArticle),
    "entity_sightings": TopicSpec("entities.sightings", "entity id: an entity's registry entry lives on one partition",
                                  EntitySighting),
    "alert_signals": TopicSpec("alerts.signals", "story_id: the alert stage keeps a story's alert state on one "
                               "partition", EntitySignal),
    "alerts": TopicSpec("alerts", "idempotency key: consumers can compact and drop repeats", Alert),
    "alert_digest": TopicSpec("alerts.digest", "rule id: a rule's waiting alerts live on one partition (plus "
                              "unkeyed ticks to every partition)", (Alert, DigestTick)),
    "deadletter": TopicSpec("deadletter", "stage that failed", DeadLetter, dead_letters=True),
    "rules": TopicSpec("rules", "rule id: the latest value is the rule (YAML or JSON), empty removes it", None,
                       partitions=1, compacted=True),
}


# The cleaner compacts only closed segments, and Kafka closes one at 1 GiB or after 7 days: a table's changelog
# (read whole by a worker taking its partitions over) grew to 348 MiB of dedup changelogs, 600k records, after
# 20k wires, mostly superseded values. Segments rolled at 16 MiB or an hour, cleaned from 10% dirty, with
# tombstones kept an hour, keep a changelog near its live size.
COMPACTION_CONFIGS = {"segment.bytes": str(16 * 2**20), "segment.ms": str(3_600_000),
                      "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": str(3_600_000)}


# What a record batch adds to its records' values (headers, keys, the batch header), within the request limit.
BATCH_OVERHEAD_BYTES = 64 * 1024


def message_limit_bytes(settings: Settings) -> int:
    """The largest record batch a producer sends and a topic takes: `max_message_bytes` of value, plus overhead."""
    return settings.max_message_bytes + BATCH_OVERHEAD_BYTES


def topic_configs(spec: TopicSpec, settings: Settings) -> dict[str, str]:
    """The broker settings of a topic: a table is compacted (kept whole, latest value per key); a stream is deleted
    after its retention, dead letters last of all. Each takes the records the stages may send, whatever the
    cluster's default limit."""
    limit = {"max.message.bytes": str(message_limit_bytes(settings))}
    if spec.compacted:
        return {"cleanup.policy": "compact", **COMPACTION_CONFIGS, **limit}
    hours = settings.deadletter_retention_hours if spec.dead_letters else settings.retention_hours
    return {"cleanup.policy": "delete", "retention.ms": str(int(hours * 3_600_000)), **limit}


def topic_name(settings: Settings, role: str) -> str:
    """The full topic name for a role such as "raw" or "alerts"."""
    return f"{settings.topic_prefix}.{TOPIC_SPECS[role].suffix}"


@dataclass(frozen=True)
class Topics:
    """The Faust topic objects of one app, one attribute per role."""

    raw: faust.TopicT
    clean: faust.TopicT
    dedup_probes: faust.TopicT
    dedup_decide: faust.TopicT
    deduped: faust.TopicT
    tagged: faust.TopicT
    entity_sightings: faust.TopicT
    alert_signals: faust.TopicT
    alerts: faust.TopicT
    alert_digest: faust.TopicT
    deadletter: faust.TopicT
    rules: faust.TopicT


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Faust topics for every role; creation on the broker is explicit (`wirewatch topics create`).

    Values are consumed as bytes and decoded by the stage (`streams.raw.decode_record`), so a message that fails
    to decode reaches the dead-letter topic instead of being skipped by Faust's decoder. Records sent to these
    topics are still encoded with their own orjson serializer.
    """
    made = {
        role: app.topic(topic_name(settings, role), partitions=spec.partitions or settings.partitions,
                        key_serializer="raw", value_serializer="raw")
        for role, spec in TOPIC_SPECS.items()
    }
    return Topics(**made)


def key_partition(key: str, partitions: int) -> int:
    """The partition of `key`: where Kafka's default partitioner (murmur2, as Faust's producer uses) puts it.

    An agent writes its table entries on the partition of the event it handles, so for a topic keyed by story id
    (or rule id) this is also the partition of that story's (rule's) table entry.
    """
    hashed: int = murmur2(key.encode("utf-8"))
    return (hashed & 0x7FFFFFFF) % partitions
