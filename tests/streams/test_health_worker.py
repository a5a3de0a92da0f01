"""A real stories worker on its own broker: `/readyz` before and after it joins its group, the health and progress
series on its `/metrics`, a new worker restoring its table, and readiness while the broker is down and back."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streams.records import CleanArticle, DedupVerdict, TaggedArticle
from streams.settings import Settings
from tests.conftest import SpawnedWorker, http_get, metric_value, wait_for
from tests.kafka_io import produce
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import EmbeddedBroker, broker_for, free_port

pytestmark = pytest.mark.integration
STAGE = 'stage="stories"'


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, which it stops and starts again (the session's is shared)."""
    with broker_for(Settings.from_env({}), tmp_path / "kafka", tmp_path / "broker.log") as broker:
        yield broker


def readyz(worker: SpawnedWorker) -> tuple[int, str]:
    return http_get(f"http://127.0.0.1:{worker.web_port}/readyz")


def wait_ready(worker: SpawnedWorker) -> None:
    wait_for(lambda: readyz(worker) == (200, "ready\n"), 120, "the worker to say it is ready")


def test_readiness_follows_the_group_the_tables_and_the_broker(
        own_broker: EmbeddedBroker, spawn_worker: Callable[..., SpawnedWorker], tmp_path: Path) -> None:
    settings = Settings.from_env({}, broker=own_broker.url, topic_prefix="health", data_dir=tmp_path / "data",
                                 web_port=free_port())
    asyncio.run(create_topics(settings))
    worker = spawn_worker("stories", settings)
    status, reasons = wait_for(lambda: readyz(worker), 120, "the worker's web server")
    assert status == 503  # Faust's web server is up before the group is joined and the tables are recovered
    assert {"not joined consumer group health-stories", "consumer group rebalancing",
            "tables not recovered"} & {reason.split(":")[0] for reason in reasons.splitlines()}, reasons
    wait_ready(worker)
    port = worker.web_port
    assert metric_value(port, f"wirewatch_worker_ready{{{STAGE}}}") == 1
    assert metric_value(port, f"wirewatch_rebalances_total{{{STAGE}}}") >= 1  # the first join is one

    article = TaggedArticle(article=CleanArticle(id="a1", title="Talks resume", paragraphs=["Talks resume."]),
                            verdict=DedupVerdict(kind="new", story_id="a1"))
    asyncio.run(produce(settings, "tagged", [(b"a1", article.dumps())]))
    wait_for(lambda: metric_value(port, f"wirewatch_last_processed_timestamp_seconds{{{STAGE}}}") > 0, 60,
             "the story to be folded")
    assert metric_value(port, f"wirewatch_in_flight_records{{{STAGE}}}") == 0

    worker.terminate()
    worker.wait(timeout=30)
    restoring = spawn_worker("stories", settings)  # a new worker (its own table folder, if on disk) restores the story
    wait_ready(restoring)
    port = restoring.web_port
    assert metric_value(port, f"wirewatch_table_recovery_restored_records{{{STAGE}}}") >= 1
    assert metric_value(port, f"wirewatch_table_recovery_remaining_records{{{STAGE}}}") == 0

    own_broker.stop()
    status, reasons = wait_for(lambda: (answer := readyz(restoring))[0] == 503 and answer, 60,
                               "/readyz to notice the broker is down")
    assert reasons.startswith("broker unreachable: "), reasons
    assert http_get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")  # alive all the same
    assert metric_value(port, f"wirewatch_worker_ready{{{STAGE}}}") == 0
    own_broker.start()
    wait_ready(restoring)
