"""Topic administration: every topic is created explicitly with its partition count and settings (never
auto-created), an existing topic's settings are brought up to date, and a call returns once the broker lists what
it created."""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from mode.utils.times import want_seconds

from streams.settings import Settings
from streams.topics import COMPACTION_CONFIGS, TOPIC_SPECS, message_limit_bytes, topic_configs, topic_name

log = logging.getLogger(__name__)
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a value set on the topic itself


@dataclass(frozen=True)
class WantedTopic:
    """A topic as it should be on the broker."""

    partitions: int
    configs: dict[str, str]


async def create_topics(settings: Settings) -> dict[str, str]:
    """Create every wirewatch topic that is missing and set the others' settings where they differ; returns topic
    name → "created", "updated" (settings changed) or "exists"."""
    return await ensure_topics(settings, {
        topic_name(settings, role): WantedTopic(spec.partitions or settings.partitions, topic_configs(spec, settings))
        for role, spec in TOPIC_SPECS.items()})


async def wait_for_topics(settings: Settings) -> None:
    """Return once the broker answers and lists every wirewatch topic, so a worker started before its broker (as
    `run` does) or before `wirewatch topics create` waits rather than subscribing to topics that are not there."""
    names = {topic_name(settings, role) for role in TOPIC_SPECS}
    deadline = time.monotonic() + settings.broker_wait_seconds
    told = 0.0
    while True:
        waiting_for = f"the broker at {settings.broker}"
        if reachable(settings):  # asked quietly first: a Kafka client logs every refused connection
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="wirewatch-admin")
            try:
                await admin.start()
                missing = sorted(names - set(await admin.list_topics()))
                if not missing:
                    return
                waiting_for = f"topics {', '.join(missing)} (`wirewatch topics create` makes them)"
            except (KafkaError, OSError):
                pass
            finally:
                await admin.close()
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(f"gave up after {settings.broker_wait_seconds:.0f} s waiting for {waiting_for}")
        if now - told > 10:
            log.info("waiting", extra={"for": waiting_for})
            told = now
        await asyncio.sleep(0.2)


def reachable(settings: Settings) -> bool:
    """Whether one of the bootstrap servers accepts a TCP connection."""
    for server in settings.bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            return True
        except (OSError, ValueError):
            continue
    return False


async def create_changelog_topics(app: faust.App, settings: Settings) -> dict[str, str]:
    """Create the changelog topics of `app`'s tables as Faust declares them (partitions, compaction, retention).

    Faust creates them itself as a worker starts, but Kafka lists a new topic in its metadata a moment after it
    answers the creation, and a worker that asks in that moment takes the changelog for one of 0 partitions until
    its next metadata refresh, minutes later: every table write fails meanwhile (`PartitionsMismatch`). A worker
    calls this before Faust starts, so Faust finds them listed.
    """
    wanted = {}
    for table in app.tables.values():
        topic = table.changelog_topic
        policy = ["compact"] * bool(topic.compacting) + ["delete"] * bool(topic.deleting)
        configs = {"max.message.bytes": str(message_limit_bytes(settings))}
        if policy:
            configs["cleanup.policy"] = ",".join(policy)
        if topic.compacting:
            configs.update(COMPACTION_CONFIGS)
        if topic.retention:
            configs["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
        configs.update({key: str(value) for key, value in (topic.config or {}).items()})
        wanted[topic.get_topic_name()] = WantedTopic(topic.partitions or settings.partitions, configs)
    return await ensure_topics(settings, wanted)


async def ensure_topics(settings: Settings, wanted: dict[str, WantedTopic], timeout: float = 30.0) -> dict[str, str]:
    """Create the missing topics of `wanted`, update the settings of the others where they differ, and return once
    the broker's metadata lists every one; topic name → "created", "updated" or "exists"."""
    if not wanted:
        return {}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="wirewatch-admin")
    await admin.start()
    try:
        outcome = dict.fromkeys(wanted, "exists")
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            response = await admin.create_topics([
                NewTopic(name, num_partitions=wanted[name].partitions, replication_factor=settings.replication_factor,
                         topic_configs=wanted[name].configs)
                for name in missing])
            # The broker answers per topic; an error there does not raise.
            for name, code, *message in response.topic_errors:
                if code == 0:
                    outcome[name] = "created"
                elif code != TopicAlreadyExistsError.errno:  # else created meanwhile by another client
                    raise RuntimeError(f"cannot create topic {name}: {_detail(code, message)} (error code {code})")
        present = {name: topic.configs for name, topic in wanted.items() if outcome[name] == "exists"}
        for name in await _update_configs(admin, present):
            outcome[name] = "updated"
        await _until_listed(admin, missing, timeout)
        return outcome
    finally:
        await admin.close()


async def _until_listed(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    """Wait until the broker's metadata lists every topic of `names` with a leader for each partition."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names) if names else []
        unlisted = [t["topic"] for t in described
                    if t["error_code"] != 0 or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])]
        if not unlisted:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not list the new topics {', '.join(unlisted)} within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def _update_configs(admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]]) -> list[str]:
    """Set the wanted settings on existing topics whose values differ; returns the topics changed.

    AlterConfigs replaces a topic's whole set of overrides, so the ones set by someone else are sent back with ours.
    """
    if not wanted:
        return []
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted])
    changes = []
    for response in described:
        for code, message, _, name, entries in response.resources:
            if code != 0:
                raise RuntimeError(f"cannot read the settings of topic {name}: {_detail(code, [message])}")
            current = {entry[0]: entry[1] for entry in entries}
            if all(current.get(key) == value for key, value in wanted[name].items()):
                continue
            overrides = {entry[0]: entry[1] for entry in entries if entry[3] == _DYNAMIC_TOPIC_CONFIG}
            changes.append(ConfigResource(ConfigResourceType.TOPIC, name, configs={**overrides, **wanted[name]}))
    if not changes:
        return []
    for response in await admin.alter_configs(changes):
        for code, message, _, name in response.resources:
            if code != 0:
                raise RuntimeError(f"cannot change the settings of topic {name}: {_detail(code, [message])}")
    log.info("topic settings updated", extra={"topics": [change.name for change in changes]})
    return [change.name for change in changes]


def _detail(code: int, message: list[str | None]) -> str:
    return message[0] if message and message[0] else for_code(code).__name__
