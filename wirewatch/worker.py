"""Run one stage as its own Faust worker process, against any Kafka-protocol broker."""
from __future__ import annotations

import asyncio
import logging
import logging.config

import faust

from streams.app import create_app, table_dir
from streams.logs import logging_config
from streams.settings import Settings
from streams.topics import declare_topics
from wirewatch.admin import create_changelog_topics, wait_for_topics
from wirewatch.lag_probe import install_lag_probe
from wirewatch.stages import installer

log = logging.getLogger(__name__)


def build_stage_app(stage: str, settings: Settings) -> faust.App:
    """A Faust app running exactly one stage's agents and its lag metrics; the clean worker also serves `POST
    /ingest`."""
    app = create_app(settings, stage)
    topics = declare_topics(app, settings)
    installer(stage)(app, topics, settings)
    install_lag_probe(app, stage, settings)
    if stage == "clean":  # ingest checks each request with the clean core, so it is served where that core runs
        from agents.ingest.endpoint import install_ingest_endpoint  # noqa: PLC0415 — only this worker loads it
        install_ingest_endpoint(app, topics, settings)
    return app


def run_worker(stage: str, settings: Settings) -> None:
    """Run `stage` until the process is told to stop (SIGINT/SIGTERM); returns after a clean shutdown."""
    table_dir(settings, stage).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    logging.config.dictConfig(logging_config(settings.log_level))  # until Faust sets up its own, the same
    app = build_stage_app(stage, settings)
    log.info("worker starting", extra={"stage": stage, "settings": settings.redacted()})
    asyncio.run(_prepare(app, settings))
    worker = faust.Worker(app, loglevel=settings.log_level, logging_config=logging_config(settings.log_level),
                          redirect_stdouts=False)
    worker.execute_from_commandline()


async def _prepare(app: faust.App, settings: Settings) -> None:
    """Wait for the broker and the topics, then create this stage's changelog topics before Faust starts."""
    await wait_for_topics(settings)
    await create_changelog_topics(app, settings)
