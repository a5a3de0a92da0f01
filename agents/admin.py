"""Topic administration: every topic is created explicitly with its partition count (never auto-created)."""
from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from streams.settings import Settings
from streams.topics import TOPIC_SPECS, topic_name

log = logging.getLogger(__name__)


async def create_topics(settings: Settings) -> dict[str, str]:
    """Create every wirewatch topic that is missing; returns topic name → "created" or "exists"."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="wirewatch-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        outcome: dict[str, str] = {}
        specs = {topic_name(settings, role): spec for role, spec in TOPIC_SPECS.items()}
        wanted = list(specs)
        missing = [name for name in wanted if name not in existing]
        for name in wanted:
            outcome[name] = "exists"
        if missing:
            response = await admin.create_topics([
                NewTopic(name, num_partitions=specs[name].partitions or settings.partitions,
                         replication_factor=settings.replication_factor,
                         topic_configs={"cleanup.policy": "compact"} if specs[name].compacted else {})
                for name in missing])
            # The broker answers per topic; an error there does not raise.
            for name, code, *message in response.topic_errors:
                if code == 0:
                    outcome[name] = "created"
                elif code == TopicAlreadyExistsError.errno:
                    outcome[name] = "exists"  # created meanwhile by another client
                else:
                    detail = message[0] if message and message[0] else for_code(code).__name__
                    raise RuntimeError(f"cannot create topic {name}: {detail} (error code {code})")
        return outcome
    finally:
        await admin.close()
