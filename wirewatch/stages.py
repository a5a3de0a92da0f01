"""The stages a worker can run, by name; each module is imported only by the worker that runs it."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import faust

from streams.settings import Settings
from streams.topics import Topics

Installer = Callable[[faust.App, Topics, Settings], faust.types.AgentT[Any]]

# Pipeline order: `wirewatch run` starts them in this order; `stories` serves story state, `feed` is the live view,
# `web` the live wire page.
STAGE_MODULES: dict[str, str] = {
    "clean": "agents.clean.agent",
    "dedup": "agents.dedup.agent",
    "tag": "agents.tag.agent",
    "alert": "agents.alert.agent",
    "stories": "agents.stories.agent",
    "entities": "agents.entities.agent",
    "feed": "agents.sinks.feed",
    "web": "agents.web.agent",
}


def installer(stage: str) -> Installer:
    """The `install(app, topics, settings)` function of `stage`."""
    if stage not in STAGE_MODULES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGE_MODULES)}")
    install: Installer = importlib.import_module(STAGE_MODULES[stage]).install
    return install
