"""The loop every stage's agent runs: per event, decode the record, count it, run the stage's handler and
dead-letter whatever fails, so that one bad input never stops a stage and every stage counts alike."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import faust
from faust.types import EventT, Message, StreamT

from streams.deadletter import BadInput, send_dead_letter
from streams.metrics import ARTICLES, IN_FLIGHT, LAST_PROCESSED, OUTCOMES, stage_timer
from streams.raw import decode_record
from streams.records import DeadLetter

Record = TypeVar("Record", bound=faust.Record)
Result = TypeVar("Result")
RecordTypes = type[Any] | tuple[type[Any], ...]
Event = EventT[bytes]


def one(_: object) -> int:
    """How many articles a result completes when it stands for one (the default)."""
    return 1


class StageLoop:
    """One stage's loop: counts its articles `in`, `out` and `failed` (those of `counts`, bounded labels of the
    `wirewatch_articles_total` metric) and dead-letters each failing input with its event's value and message.

    Every event it takes counts as in flight until it is finished (handled or dead-lettered), when the stage's
    last-processed time is set, whatever `counts` says: a stage's signals and ticks show it is alive too.
    """

    def __init__(self, stage: str, deadletter: faust.TopicT, *, counts: Collection[str] = OUTCOMES) -> None:
        self.stage, self.deadletter, self.counts = stage, deadletter, frozenset(counts)

    def timer(self, articles: int = 1) -> AbstractContextManager[None]:
        """Times the block as the stage's work on `articles` articles (`wirewatch_stage_seconds`)."""
        return stage_timer(self.stage, articles)

    async def each(self, stream: StreamT[bytes], record: RecordTypes,
                   handle: Callable[[Any, Event], Awaitable[Result]], *,
                   articles_out: Callable[[Result], int] = one,
                   on_failure: Callable[[Any, Event], Awaitable[None]] | None = None,
                   ) -> AsyncIterator[Result | DeadLetter]:
        """Per event: `handle(record, event)`'s result, or the event's dead letter if decoding or handling failed.

        `record` is the record type (or types) the value decodes to, `bytes` to hand the handler the value itself;
        `articles_out` says how many articles a result completes; `on_failure(record or None, event)` runs after
        a failure's dead letter was sent.
        """
        async for event in stream.events():
            self._count("in")
            decoded = None
            with self.in_flight():
                try:
                    decoded = event.value if record is bytes else decode_record(event.value, record)
                    result = await handle(decoded, event)
                except Exception as error:  # noqa: BLE001 — one failing input is dead-lettered, never fatal
                    outcome: Result | DeadLetter = await self._dead_letter(event.value, error, event.message)
                    if on_failure is not None:
                        await on_failure(decoded, event)
                else:
                    self._count("out", articles_out(result))
                    outcome = result
            yield outcome

    async def attempt(self, step: Callable[[], Awaitable[Result]], original: bytes,
                      message: Message | None = None) -> Result | DeadLetter:
        """`step()`'s result, counted out as one article; or, if it fails, the dead letter of `original`."""
        try:
            result = await step()
        except Exception as error:  # noqa: BLE001 — one failing article is dead-lettered, never fatal
            return await self._dead_letter(original, error, message)
        self._count("out")
        return result

    async def batch(self, events: Sequence[Event], record: type[Record],
                    core: Callable[[list[Record]], Awaitable[list[Result]]],
                    send: Callable[[Result], Awaitable[Result]]) -> list[Result | DeadLetter]:
        """Per event, in order (those that do not decode last): `send` of its `core` result, or its dead letter.

        `core` runs once for the whole batch; should it fail, again for each article alone, so that only the
        article it fails on is dead-lettered.
        """
        self._count("in", len(events))
        with self.in_flight(len(events)):
            return await self._batch(events, record, core, send)

    @contextmanager
    def in_flight(self, events: int = 1) -> Iterator[None]:
        """Counts `events` in flight for the block (`wirewatch_in_flight_records`); when it ends, they are
        finished, whether it succeeded or not (`wirewatch_last_processed_timestamp_seconds`)."""
        IN_FLIGHT.labels(self.stage).inc(events)
        try:
            yield
        finally:
            IN_FLIGHT.labels(self.stage).dec(events)
            LAST_PROCESSED.labels(self.stage).set_to_current_time()

    async def _batch(self, events: Sequence[Event], record: type[Record],
                     core: Callable[[list[Record]], Awaitable[list[Result]]],
                     send: Callable[[Result], Awaitable[Result]]) -> list[Result | DeadLetter]:
        decoded: list[tuple[Event, Record]] = []
        rejected: list[Result | DeadLetter] = []
        for event in events:
            try:
                decoded.append((event, decode_record(event.value, record)))
            except BadInput as error:
                rejected.append(await self._dead_letter(event.value, error, event.message))
        results: list[Result] | None
        try:
            with self.timer(len(decoded)):
                results = list(await core([item for _, item in decoded]))
        except Exception:  # noqa: BLE001 — find the article the core fails on; the others go on
            results = None
        outcomes: list[Result | DeadLetter] = []
        for index, (event, item) in enumerate(decoded):
            async def finish(item: Record = item, index: int = index) -> Result:
                return await send(results[index] if results is not None else (await core([item]))[0])

            outcomes.append(await self.attempt(finish, event.value, event.message))
        return [*outcomes, *rejected]

    async def _dead_letter(self, original: bytes | None, error: BaseException,
                           message: Message | None) -> DeadLetter:
        return await send_dead_letter(self.deadletter, self.stage, original, error, message,
                                      counts_article="failed" in self.counts)

    def _count(self, outcome: str, articles: int = 1) -> None:
        if outcome in self.counts:
            ARTICLES.labels(self.stage, outcome).inc(articles)
