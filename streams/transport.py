"""Faust's Kafka transport with the consumer's fetch wait from the settings.

faust-streaming writes `fetch_max_wait_ms=1500` into every worker's aiokafka consumer. A broker answers a fetch
with no new records when that wait is over, and the embedded broker waits it out even when records came
meanwhile, so each hop of the pipeline waited up to 1.5 s: the wait is `WIREWATCH_FETCH_WAIT_MS` instead.
"""
from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka


def transport_class(fetch_wait_ms: int) -> type[faust_aiokafka.Transport]:
    """Faust's aiokafka transport whose worker consumers wait at most `fetch_wait_ms` per fetch."""

    class FetchWaitConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_wait_ms  # read when the consumer starts its fetcher
            return consumer

    class FetchWaitConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> FetchWaitConsumerThread:
            return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class FetchWaitTransport(faust_aiokafka.Transport):
        Consumer = FetchWaitConsumer

    return FetchWaitTransport
