"""Shared fixtures: the seed documents, the shared data folder, the embedded broker and worker processes."""
from __future__ import annotations

import asyncio
import dataclasses
import gzip
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import faust
import orjson
import pytest

from agents.clean.core import clean_article
from streams.app import create_app
from streams.deadletter import BadInput
from streams.records import CleanArticle, RawArticle
from streams.settings import DEFAULTS, ENV_PREFIX, Settings
from streams.topics import TOPIC_SPECS, Topics
from tests.webhook_receiver import webhook_receiver  # noqa: F401 (a fixture, shared)
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import EmbeddedBroker, broker_for, die_with_parent, free_port
from wirewatch.stages import installer

RecordType = TypeVar("RecordType")
REPO = Path(__file__).resolve().parent.parent
SEEDS = DEFAULTS / "seeds"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    """The two seed documents, in name order (the Bloomberg versions first)."""
    return sorted(SEEDS.glob("*.txt"))


@pytest.fixture(scope="session")
def seed_texts(seed_paths: list[Path]) -> list[str]:
    """The seed documents' text as it is on disk."""
    return [p.read_text(encoding="utf-8") for p in seed_paths]


def clean_or_none(raw: RawArticle) -> list[CleanArticle] | None:
    """The clean stage's articles for `raw`, or None when it rejects the input as empty (the only allowed reject)."""
    try:
        return clean_article(raw)
    except BadInput as error:
        assert error.reason == "empty_body"
        return None


def value_of(event: faust.types.EventT[Any], record: type[RecordType]) -> RecordType:
    """The `record` an event of an in-memory channel holds; the test fails when it holds something else."""
    assert isinstance(event.value, record), event.value
    return event.value


def stage_app(name: str, settings: Settings | None = None) -> tuple[Any, Topics, Any]:
    """A stage's Faust app ready for `agent.test_context()`, its topics replaced by in-memory channels:
    (app, topics, the agent the stage's installer returns)."""
    # A test context assigns no partitions, and a RocksDB table opens its files per assigned partition.
    settings = dataclasses.replace(settings or Settings.from_env({}), table_store="memory")
    app = create_app(settings, name)
    # In-memory channels stand in for the topics: the agents use only what the two have in common.
    topics = Topics(**{role: cast("faust.TopicT", app.channel(maxsize=1000)) for role in TOPIC_SPECS})
    agent = installer(name)(app, topics, settings)
    app.finalize()
    app.flow_control.resume()
    return app, topics, agent


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something true (an OSError counts as not yet) and return that; fail after
    `timeout` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except OSError:  # e.g. the worker's web server is not up yet
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def metric_value(port: int, series: str) -> float:
    """A series' value (`name{labels}` as the page writes it) from a worker's live /metrics page; 0 when absent."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    line = next((line for line in text.splitlines() if line.startswith(series + " ")), None)
    return float(line.split()[-1]) if line else 0.0


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1, below the kernel's ephemeral range: `wirewatch run`
    binds its workers to the ports after its own, and in that range any process's outgoing connection may hold one
    (an alert worker once found its port taken for a whole run)."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        base = random.randrange(10_000, ephemeral_low - count)
        if all(_bindable(port) for port in range(base, base + count)):
            return base


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """A GET's status and body, an error status (a 503 from `/readyz`) included; OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def shared_data(relative: str) -> Path:
    """A path under ../shared/data, skipping the test with a clear message when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the shared real-news data set); it is not present on this machine")
    return path


@pytest.fixture(scope="session")
def largest_pages() -> list[str]:
    """The pages of the extraction benchmark's development half, as text, the largest (CNN's 1.5 MB) first."""
    folder = shared_data("zyte-aeb-dev/html")
    paths = sorted(folder.glob("*.html.gz"), key=lambda p: p.stat().st_size, reverse=True)
    return [gzip.decompress(path.read_bytes()).decode("utf-8", "replace") for path in paths]


def long_news_text(size: int) -> str:
    """`size` characters of real wire text (Reuters-21578 bodies, one paragraph each): one long article."""
    path = shared_data("reuters21578/reuters21578.jsonl.gz")
    paragraphs, total = [], 0
    with gzip.open(path, "rb") as lines:
        for line in lines:
            body = orjson.loads(line).get("body")
            if body:
                paragraphs.append(" ".join(body.replace("Reuter\n", "").split()))
                total += len(paragraphs[-1]) + 2
                if total > size:
                    break
    return "\n\n".join(paragraphs)[:size]


# ---- the embedded broker and worker processes (integration tests) ----


@pytest.fixture(scope="session")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Apache Kafka node for the session; tests isolate themselves with their own topic prefix."""
    node_dir = tmp_path_factory.mktemp("broker")
    with broker_for(Settings.from_env({}), node_dir, log_path=node_dir / "broker.log") as broker:
        yield broker


@pytest.fixture
def pipeline_settings(embedded_broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic prefix (so its own topics and groups), topics created."""
    settings = Settings.from_env({}, broker=embedded_broker.url, topic_prefix=f"t{uuid.uuid4().hex[:8]}",
                                 data_dir=tmp_path / "data", web_port=free_port())
    asyncio.run(create_topics(settings))
    return settings


class SpawnedWorker(subprocess.Popen[bytes]):
    """A `wirewatch worker` process a test started, with where it logs and the port its web server listens on."""

    log_path: str
    web_port: int


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., SpawnedWorker]]:
    """Start `wirewatch worker STAGE` processes; all are stopped (SIGTERM, then SIGKILL) after the test."""
    started: list[SpawnedWorker] = []

    def spawn(stage: str, settings: Settings, **extra_env: str) -> SpawnedWorker:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        environ.update(settings.to_env())
        web_port = free_port()
        environ.update({f"{ENV_PREFIX}WEB_PORT": str(web_port), **extra_env})
        with open(tmp_path / f"{stage}-{len(started)}.log", "wb") as log:
            process = SpawnedWorker([sys.executable, "-m", "wirewatch.cli", "worker", stage], cwd=REPO,
                                    env=environ, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        process.log_path, process.web_port = log.name, web_port
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
