"""The stages a worker can run, by name; each module is imported only by the worker that runs it."""
from __future__ import annotations

import importlib
from collections.abc import Callable

import faust

from streams.settings import Settings
from streams.topics import Topics

Installer = Callable[[faust.App, Topics, Settings], faust.types.AgentT]
EndpointInstaller = Callable[[faust.App, Topics, Settings], None]

# Pipeline order: `wirewatch run` starts them in this order; `stories` serves story state, `feed` is the live view.
STAGE_MODULES: dict[str, str] = {
    "clean": "agents.clean.agent",
    "dedup": "agents.dedup.agent",
    "tag": "agents.tag.agent",
    "alert": "agents.alert.agent",
    "stories": "agents.stories.agent",
    "entities": "agents.entities.agent",
    "feed": "agents.sinks.feed",
}

# Web endpoints a stage's worker serves besides the stage's agents, as "module:function": the clean worker takes
# articles over HTTP (`POST /ingest`), checked with the clean core before they join the raw topic.
STAGE_ENDPOINTS: dict[str, str] = {
    "clean": "agents.ingest.endpoint:install_ingest_endpoint",
}


def installer(stage: str) -> Installer:
    """The `install(app, topics, settings)` function of `stage`."""
    if stage not in STAGE_MODULES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGE_MODULES)}")
    return importlib.import_module(STAGE_MODULES[stage]).install


def endpoint_installer(stage: str) -> EndpointInstaller | None:
    """The `install_…(app, topics, settings)` function of the web endpoint `stage`'s worker serves, if any."""
    if stage not in STAGE_ENDPOINTS:
        return None
    module, function = STAGE_ENDPOINTS[stage].split(":")
    install: EndpointInstaller = getattr(importlib.import_module(module), function)
    return install
