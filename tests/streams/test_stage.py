"""The stage loop every agent runs, over fake events: counts, dead letters, the failure hook, a batch's fallback,
events in flight and the last-processed time."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from streams.metrics import ARTICLES, IN_FLIGHT, LAST_PROCESSED, STAGE_SECONDS
from streams.records import DeadLetter, DigestTick
from streams.stage import StageLoop


class Topic:
    """Stands for the dead-letter topic: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, key: bytes, value: Any) -> None:
        self.sent.append(value)


def events(*values: bytes) -> list[Any]:
    return [SimpleNamespace(value=value, key=None, message=SimpleNamespace(
        topic="in", partition=0, offset=offset, timestamp=0.0, headers=[])) for offset, value in enumerate(values)]


class Stream:
    def __init__(self, *values: bytes) -> None:
        self._events = events(*values)

    async def events(self) -> AsyncIterator[Any]:
        for event in self._events:
            yield event


def counted(stage: str) -> dict[str, float]:
    return {outcome: ARTICLES.labels(stage, outcome)._value.get() for outcome in ("in", "out", "failed")}


def run_each(loop: StageLoop, stream: Stream, record: Any, handle: Any, **options: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [outcome async for outcome in loop.each(stream, record, handle, **options)]  # type: ignore[arg-type]
    return asyncio.run(collect())


TICK = DigestTick(at=1.0).dumps()


def test_each_counts_in_and_out_and_dead_letters_what_does_not_decode_or_fails() -> None:
    deadletter, failed_on = Topic(), []

    async def handle(tick: DigestTick, event: Any) -> float:
        if event.message.offset == 2:
            raise RuntimeError("the core failed")
        return tick.at

    async def on_failure(record: Any, event: Any) -> None:
        failed_on.append((record, event.message.offset))

    loop = StageLoop("test-each", deadletter)  # type: ignore[arg-type]
    outcomes = run_each(loop, Stream(TICK, b"{", TICK), DigestTick, handle, articles_out=lambda at: 2,
                        on_failure=on_failure)
    assert outcomes[0] == 1.0 and [o.reason for o in outcomes[1:]] == ["malformed_json", "processing_error"]
    assert deadletter.sent == outcomes[1:] and all(isinstance(o, DeadLetter) for o in deadletter.sent)
    assert [(record is None, offset) for record, offset in failed_on] == [(True, 1), (False, 2)]
    assert counted("test-each") == {"in": 3, "out": 2, "failed": 2}


def test_a_loop_counts_only_the_outcomes_it_is_given_and_hands_bytes_through() -> None:
    async def handle(value: bytes, event: Any) -> bytes:
        return value

    loop = StageLoop("test-quiet", Topic(), counts=())  # type: ignore[arg-type]
    outcomes = run_each(loop, Stream(b"raw"), bytes, handle)
    assert outcomes == [b"raw"] and counted("test-quiet") == {"in": 0, "out": 0, "failed": 0}


def test_a_failing_batch_is_run_again_article_by_article_and_only_the_failing_one_is_dead_lettered() -> None:
    deadletter, calls = Topic(), []

    async def core(ticks: list[DigestTick]) -> list[float]:
        calls.append(len(ticks))
        if any(tick.at == 2.0 for tick in ticks):
            raise RuntimeError("the model failed")
        return [tick.at for tick in ticks]

    async def send(at: float) -> float:
        return at * 10

    loop = StageLoop("test-batch", deadletter)  # type: ignore[arg-type]
    batch = events(DigestTick(at=1.0).dumps(), b"{", DigestTick(at=2.0).dumps(), DigestTick(at=3.0).dumps())
    outcomes = asyncio.run(loop.batch(batch, DigestTick, core, send))
    assert outcomes[:1] == [10.0] and outcomes[2:3] == [30.0]
    letters = [outcome for outcome in outcomes if isinstance(outcome, DeadLetter)]
    assert [letter.reason for letter in letters] == ["processing_error", "malformed_json"]
    assert calls == [3, 1, 1, 1]  # the batch of the three that decode, then each alone
    assert counted("test-batch") == {"in": 4, "out": 2, "failed": 2}
    assert STAGE_SECONDS.labels("test-batch")._sum.get() == 0.0  # a failed batch's time is not observed


def gauge(metric: Any, stage: str) -> float:
    return float(metric.labels(stage)._value.get())


def test_an_event_is_in_flight_while_it_is_handled_and_sets_the_last_processed_time_when_finished() -> None:
    seen_in_flight = []

    async def handle(tick: DigestTick, event: Any) -> float:
        seen_in_flight.append(gauge(IN_FLIGHT, "test-flight"))
        if event.message.offset == 1:
            raise RuntimeError("the core failed")
        return tick.at

    loop = StageLoop("test-flight", Topic())  # type: ignore[arg-type]
    before = time.time()
    run_each(loop, Stream(TICK, TICK), DigestTick, handle)
    assert seen_in_flight == [1.0, 1.0]
    assert gauge(IN_FLIGHT, "test-flight") == 0.0  # a dead-lettered event is finished too
    assert before <= gauge(LAST_PROCESSED, "test-flight") <= time.time()


def test_a_batch_is_in_flight_as_a_whole_until_every_event_is_finished() -> None:
    seen_in_flight = []

    async def core(ticks: list[DigestTick]) -> list[float]:
        seen_in_flight.append(gauge(IN_FLIGHT, "test-flight-batch"))
        return [tick.at for tick in ticks]

    async def send(at: float) -> float:
        return at

    loop = StageLoop("test-flight-batch", Topic())  # type: ignore[arg-type]
    before = time.time()
    asyncio.run(loop.batch(events(TICK, TICK, b"{"), DigestTick, core, send))
    assert seen_in_flight == [3.0] and gauge(IN_FLIGHT, "test-flight-batch") == 0.0
    assert gauge(LAST_PROCESSED, "test-flight-batch") >= before
