"""A worker's lag metrics: every WIREWATCH_LAG_INTERVAL seconds, the lag of the input partitions it owns, and no
series for a partition it no longer owns (faust-streaming's own sensor keeps those, and dashboards lie)."""
from __future__ import annotations

import logging
from typing import Any

import faust
import mode
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.lag import EndOffsetLog
from streams.metrics import CONSUMER_LAG_RECORDS, CONSUMER_LAG_SECONDS
from streams.settings import Settings
from wirewatch.lag import LagReader, input_topics

log = logging.getLogger(__name__)


class LagProbe(mode.Service):
    """Exports `wirewatch_consumer_lag_records` and `_seconds` for the stage's input partitions this worker owns."""

    def __init__(self, app: faust.App, stage: str, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app, self.stage, self.settings = app, stage, settings
        self.topics = frozenset(input_topics(app))
        self.exported: set[TopicPartition] = set()
        self.reader: LagReader | None = None
        self.ends = EndOffsetLog()  # what this worker saw of its partitions' ends: bounds the waiting records' age

    async def on_stop(self) -> None:
        if self.reader is not None:
            await self.reader.__aexit__()

    def owned(self) -> set[TopicPartition]:
        """The input partitions assigned to this worker now."""
        return {TopicPartition(tp.topic, tp.partition) for tp in self.app.consumer.assignment()
                if tp.topic in self.topics}

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Remove the series of `partitions`."""
        for tp in partitions & self.exported:
            CONSUMER_LAG_RECORDS.remove(self.stage, tp.topic, str(tp.partition))
            CONSUMER_LAG_SECONDS.remove(self.stage, tp.topic, str(tp.partition))
        self.exported -= partitions

    async def refresh(self) -> None:
        """Read the lag of the owned partitions and export it; drop the series of partitions no longer owned."""
        if self.reader is None:  # started here, not with the worker: a broker error is then one round's warning
            self.reader = await LagReader(self.settings).__aenter__()
        rows = await self.reader.lag(self.app.conf.id, self.owned(), self.ends)
        owned = self.owned()  # a rebalance may have moved partitions while the broker answered
        for row in rows:
            tp = TopicPartition(row.topic, row.partition)
            if tp in owned:
                CONSUMER_LAG_RECORDS.labels(self.stage, row.topic, str(row.partition)).set(row.records)
                CONSUMER_LAG_SECONDS.labels(self.stage, row.topic, str(row.partition)).set(row.seconds)
                self.exported.add(tp)
        self.forget(self.exported - owned)

    async def refresh_or_log(self) -> None:
        """`refresh()`; a broker error is logged (unless the worker is stopping) and the next round tries again."""
        try:
            await self.refresh()
        except (TimeoutError, KafkaError, OSError) as error:
            if not self.should_stop:  # else the read was cut short by the stop itself
                log.warning("consumer lag not read", extra={"stage": self.stage, "error": repr(error)})

    @mode.Service.task
    async def _every_interval(self) -> None:
        while not self.should_stop:
            await self.refresh_or_log()
            await self.sleep(self.settings.lag_interval)


def install_lag_probe(app: faust.App, stage: str, settings: Settings) -> None:
    """Export the lag of `stage`'s input partitions from this worker, unless WIREWATCH_LAG_INTERVAL is 0."""
    if settings.lag_interval <= 0:
        return
    probe = LagProbe(app, stage, settings)

    async def forget_revoked(sender: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        probe.forget({TopicPartition(tp.topic, tp.partition) for tp in revoked})

    # mode annotates a receiver as taking `*args`; Faust sends it the revoked partitions as its one argument.
    app.on_partitions_revoked.connect(forget_revoked)  # type: ignore[arg-type]

    app.service(probe)  # type: ignore[arg-type]  # Faust starts an instance as well as a class
