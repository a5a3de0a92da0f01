"""The corrections to faust-streaming's consumer that keep events from being skipped when partitions move."""
from __future__ import annotations

import asyncio

from faust.types import TP
from mode.utils.queues import FlowControlQueue

from streams.app import create_app
from streams.settings import Settings
from streams.transport import FlowControl


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
    consumer = create_app(Settings.from_env({}), "transport-test").consumer
    partition = TP("wirewatch.articles.clean", 0)
    consumer._committed_offset[partition] = 40  # the next offset to process, as Kafka commits it
    consumer._acked[partition] = [41, 42]       # 40 was skipped in a rebalance: Faust would commit 43
    assert consumer._new_offset(partition) is None
    consumer._acked[partition] = [40, 41, 42]
    assert consumer._new_offset(partition) == 43
