"""faust-streaming's consumer corrected: no event skipped when partitions move, the fetch wait from the settings."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP
from mode.utils.queues import FlowControlQueue

from streams.app import create_app
from streams.settings import Settings
from streams.transport import FlowControl
from wirewatch.embedded_broker import EmbeddedBroker
from wirewatch.worker import build_stage_app


async def test_resuming_flow_keeps_queued_events_and_a_revocation_clears_them() -> None:
    flow = FlowControl(loop=asyncio.get_running_loop())
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    await queue.put("fetched after the seek")
    flow.resume()  # table recovery resumes more than once; Faust's own resume emptied the queue here
    assert queue.qsize() == 1 and flow.is_active()
    flow.suspend()
    flow.clear()  # what Faust does when partitions are revoked
    assert queue.qsize() == 0 and not flow.is_active()


def test_nothing_is_committed_past_an_event_that_was_not_processed() -> None:
    consumer: Any = create_app(Settings.from_env({}), "transport-test").consumer  # its private offset books
    partition = TP("wirewatch.articles.clean", 0)
    consumer._committed_offset[partition] = 40  # the next offset to process, as Kafka commits it
    consumer._acked[partition] = [41, 42]       # 40 was skipped in a rebalance: Faust would commit 43
    assert consumer._new_offset(partition) is None
    consumer._acked[partition] = [40, 41, 42]
    assert consumer._new_offset(partition) == 43


@pytest.mark.integration
async def test_a_workers_consumer_waits_at_most_the_configured_fetch_wait(embedded_broker: EmbeddedBroker,
                                                                           tmp_path: Path) -> None:
    # faust-streaming hard-codes 1,500 ms, and the override writes a private attribute of aiokafka's consumer:
    # if it stopped applying, every hop would wait 1.5 s again, so the started consumer's fetcher is checked.
    settings = Settings.from_env({"WIREWATCH_FETCH_WAIT_MS": "123"}, broker=embedded_broker.url,
                                 data_dir=tmp_path, table_store="memory")
    consumer_service: Any = build_stage_app("dedup", settings).consumer
    thread = consumer_service._thread  # the consumer thread a worker starts
    consumer = thread._create_consumer(loop=asyncio.get_running_loop())  # what the thread does when it starts
    await consumer.start()
    try:
        assert consumer._fetcher._fetch_max_wait_ms == 123  # the wait each fetch request asks the broker for
    finally:
        await consumer.stop()
