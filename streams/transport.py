"""How wirewatch's Faust apps consume: the fetch wait from the settings, and three corrections to faust-streaming's
rebalance handling, without which events were skipped and their offsets committed when partitions moved: the two
below, in the consumer, and `FlowControl`, which keeps queued events when flow resumes.

faust-streaming writes `fetch_max_wait_ms=1500` into every worker's aiokafka consumer; the wait is
`WIREWATCH_FETCH_WAIT_MS` instead.

After a rebalance Faust seeks each assigned partition to its committed offset, but aiokafka seeks only to a
committed offset above 0: a partition that kept its worker across the rebalance and had nothing committed yet went
on from where that worker's fetcher had got to. The events fetched before the rebalance are skipped (their
generation is over), so nobody processed them, and the next commit passed them by (3 dedup workers on 300 wires
on a loaded machine lost index answers and stalled in most runs). Such a partition is sought to its beginning,
where `consumer_auto_offset_reset="earliest"` would have started it, and an offset is committed only once the
events before it were processed (Faust let one skipped event through: the dedup router lost one wire in a run).
"""
from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.queues import FlowControlEvent


class FlowControl(FlowControlEvent):
    """Faust's flow control of its agents' queues, except that resuming flow keeps what is queued.

    faust-streaming empties every agent's queue on each `resume()`, and its table recovery resumes flow several times
    after a rebalance, the last time after it has sought the partitions back to their committed offsets: events
    fetched since were dropped unprocessed while later ones were processed and committed past them (with the seek
    corrected as the module says, 3 dedup workers on a loaded machine still lost an index answer). The one clear
    that is needed, of events from revoked partitions, Faust makes explicitly when partitions are revoked, before
    it seeks.
    """

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()


def transport_class(fetch_wait_ms: int) -> type[faust_aiokafka.Transport]:
    """Faust's aiokafka transport whose worker consumers wait at most `fetch_wait_ms` per fetch and re-read
    uncommitted partitions from the beginning after a rebalance."""

    class FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_wait_ms  # read when the consumer starts its fetcher
            return consumer

    class WirewatchConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> FetchWaitConsumerThread:
            return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def perform_seek(self) -> None:
            await super().perform_seek()
            uncommitted = [tp for tp in self.assignment()
                           if not self._is_changelog_tp(tp) and not self._committed_offset.get(tp)]
            if uncommitted:
                await self._thread.seek_to_beginning(*faust_aiokafka.ensure_aiokafka_TPset(uncommitted))
                # where processing starts, so that _new_offset sees an event skipped at the head
                self._committed_offset.update(await self.earliest_offsets(*uncommitted))

        def _new_offset(self, tp: TP) -> int | None:
            # Faust lets the first acknowledged offset be one past the committed one, which commits past an event
            # skipped right after a rebalance; nothing is committed until the next offset to process was processed.
            acked, committed = self._acked[tp], self._committed_offset[tp]
            if acked and committed is not None and min(acked) > committed and not self._gap[tp].overlaps(committed):
                return None
            return super()._new_offset(tp)

    class WirewatchTransport(faust_aiokafka.Transport):
        Consumer = WirewatchConsumer

    return WirewatchTransport
