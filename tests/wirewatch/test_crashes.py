"""Crashes on the real broker, with real processes: stage workers and the broker killed with SIGKILL while Reuters
wires flow lose nothing, give the verdicts of an uninterrupted run, and deliver no alert twice."""
from __future__ import annotations

import asyncio
import dataclasses
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from wirewatch.admin import create_topics
from agents.clean.core import clean_article
from agents.dedup.in_memory import in_memory_index
from wirewatch.embedded_broker import EmbeddedBroker, broker_for, free_port
from agents.ingest.producer import kafka_producer
from wirewatch.supervisor import BrokerChild, Supervisor, WorkerProcess, stop_workers
from streams.metrics import WORKER_RESTARTS
from streams.raw import raw_from_mapping
from streams.settings import Settings
from streams.topics import topic_name
from tests.conftest import REPO, shared_data, wait_for
from tests.kafka_io import read_to_end, read_until, wait_consumed
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # each waits up to 420 s for its outcome
PIPELINE = ("clean", "dedup", "tag", "alert")
RULES = REPO / "benchmarks" / "reuters_rules.yaml"   # a company, a country and a commodity: Reuters raises alerts
SECRET = "crash-test"
Verdict = tuple[str, str | None, str]  # kind, matched id, story id


@dataclasses.dataclass
class Stream:
    """Reuters wires as raw-topic values, and what an uninterrupted run makes of them."""

    values: list[bytes]
    verdicts: dict[str, Verdict]  # by delivery key (article id @ ingest time)


def reuters_stream(count: int) -> Stream:
    """The first `count` Reuters wires by date, each with its own ingest time, and their verdicts from the dedup core
    in one process (the pipeline's verdicts whatever the number of workers)."""
    shared_data("reuters21578/reuters21578.jsonl.gz")  # skips with a message when the data is absent
    from benchmarks.reuters import reuters_raw
    settings = Settings.from_env({})
    wires = [{**wire, "ingested_at": 1_500_000_000.0 + n} for n, wire in enumerate(reuters_raw(count))]
    index = in_memory_index(settings)
    verdicts = {}
    for wire in wires:
        for article in clean_article(raw_from_mapping(wire, max_bytes=settings.max_article_bytes)):
            verdict = index.judge(article)
            verdicts[article.delivery_key] = (verdict.kind, verdict.matched_id, verdict.story_id)
    return Stream([orjson.dumps(wire) for wire in wires], verdicts)


@pytest.fixture(scope="module")
def reuters_2000() -> Stream:
    return reuters_stream(2000)


@pytest.fixture(scope="module")
def reuters_600() -> Stream:
    return reuters_stream(600)


class Supervised:
    """The four stage workers under `run`'s supervisor, checked from a background thread as `run` checks them."""

    def __init__(self, settings: Settings, logs: Path, broker: EmbeddedBroker | None = None) -> None:
        self.supervisor = Supervisor(max_restarts=3)
        self.workers = {stage: WorkerProcess(stage, settings, free_port(), logs / f"{stage}.log") for stage in PIPELINE}
        for worker in self.workers.values():
            self.supervisor.watch(worker)
        if broker is not None:
            self.supervisor.watch(BrokerChild(broker), started=True)
        self._stop = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._check, daemon=True)
        self._thread.start()

    def _check(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.supervisor.check()
            except BaseException as error:  # noqa: BLE001 — the test thread reports it
                self.failure = error
                return

    def kill(self, stage: str) -> None:
        process = self.workers[stage].process
        assert process is not None and process.poll() is None, f"{stage} is not running"
        process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        stop_workers(list(self.workers.values()))


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[list[Supervised]]:
    started: list[Supervised] = []
    yield started
    for pipeline in started:
        pipeline.stop()


async def produce_paced(settings: Settings, values: list[bytes], per_second: float,
                        at: dict[int, object] | None = None) -> None:
    """Send the raw values under one key (one ingest run: one ordered stream) at a steady rate; call `at[n]()`
    once the n-th value is sent."""
    producer = kafka_producer(settings)
    await producer.start()
    started = time.monotonic()
    try:
        for number, value in enumerate(values):
            if (wait := started + number / per_second - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await producer.send(topic_name(settings, "raw"), value, key=b"crash-test")
            if at and number in at:
                at[number]()  # type: ignore[operator]
        await producer.flush()
    finally:
        await producer.stop()


def outcome(settings: Settings, stream: Stream, timeout: float) -> tuple[list[dict], list[dict]]:
    """Every tagged record (repeats included) once each delivery of the stream is there, and the dead letters."""
    expected = set(stream.verdicts)

    def complete(tagged: list[dict]) -> bool:
        return expected <= {delivery(t) for t in tagged}

    tagged = asyncio.run(read_until(settings, "tagged", complete, timeout))
    return tagged, read_to_end(settings, "deadletter")  # what there is: the letters only explain a failure


def delivery(tagged: dict) -> str:
    article = tagged["article"]
    return f"{article['id']}@{article['ingested_at']!r}"


def assert_nothing_lost_and_verdicts_as_uninterrupted(stream: Stream, tagged: list[dict],
                                                      letters: list[dict]) -> None:
    given: dict[str, set[Verdict]] = {}
    for record in tagged:
        verdict = record["verdict"]
        given.setdefault(delivery(record), set()).add((verdict["kind"], verdict["matched_id"], verdict["story_id"]))
    lost = set(stream.verdicts) - set(given)
    assert not lost, f"{len(lost)} articles neither tagged nor dead-lettered; dead letters: {len(letters)}"
    conflicting = {key: kinds for key, kinds in given.items() if len(kinds) > 1}
    assert not conflicting, f"articles given two verdicts when delivered again: {list(conflicting.items())[:3]}"
    differing = {key: (given[key], expected) for key, expected in stream.verdicts.items() if given[key] != {expected}}
    assert not differing, f"{len(differing)} verdicts differ from an uninterrupted run: {list(differing.items())[:3]}"


def assert_each_alert_reached_the_webhook_once(settings: Settings, hook: Receiver) -> int:
    """Every alert on the alerts topic reached the webhook; a repeat, if any, carried the same key (the receiver
    drops it). Returns how many alerts there were."""
    wait_consumed(settings, "alert", "tagged", timeout=120)  # every tagged article handled: its alerts are out
    alerts = read_to_end(settings, "alerts")
    keys = {alert["idempotency_key"] for alert in alerts}
    posts = Counter(request.key for request in hook.snapshot() if request.status == 200)
    assert keys, "the rules raised alerts, so the test can fail"
    assert set(posts) == keys, "the webhook got exactly the alerts of the topic"
    repeated = {key: count for key, count in posts.items() if count > 1}
    assert not repeated, f"alerts posted to the webhook twice: {repeated}"
    return len(keys)


def test_each_stage_worker_killed_in_turn_loses_nothing_and_alerts_once(
        pipeline_settings: Settings, reuters_2000: Stream, webhook_receiver, supervised, tmp_path: Path) -> None:
    hook = webhook_receiver([200])
    settings = dataclasses.replace(pipeline_settings, rules_file=RULES, webhook_url=hook.url, webhook_secret=SECRET)
    pipeline = Supervised(settings, tmp_path)
    supervised.append(pipeline)
    restarts_before = {stage: WORKER_RESTARTS.labels(stage)._value.get() for stage in PIPELINE}
    sent = len(reuters_2000.values)
    kills = {int(sent * share): (lambda stage=stage: pipeline.kill(stage))
             for share, stage in zip((0.15, 0.35, 0.55, 0.75), PIPELINE)}
    asyncio.run(produce_paced(settings, reuters_2000.values, per_second=50, at=kills))

    tagged, letters = outcome(settings, reuters_2000, timeout=420)
    assert pipeline.failure is None, pipeline.failure
    assert {stage: WORKER_RESTARTS.labels(stage)._value.get() - restarts_before[stage] for stage in PIPELINE} == \
        dict.fromkeys(PIPELINE, 1), "the supervisor restarted each killed worker once"
    assert_nothing_lost_and_verdicts_as_uninterrupted(reuters_2000, tagged, letters)
    assert_each_alert_reached_the_webhook_once(settings, hook)


def test_the_broker_killed_mid_stream_comes_back_on_its_data_and_nothing_is_lost(
        reuters_600: Stream, webhook_receiver, supervised, tmp_path: Path) -> None:
    hook = webhook_receiver([200])
    broker = broker_for(Settings.from_env({}), tmp_path / "kafka", log_path=tmp_path / "broker.log").start()
    try:
        settings = Settings.from_env({}, broker=broker.url, topic_prefix="crash", data_dir=tmp_path / "data",
                                     rules_file=RULES, webhook_url=hook.url, webhook_secret=SECRET)
        asyncio.run(create_topics(settings))
        pipeline = Supervised(settings, tmp_path, broker)
        supervised.append(pipeline)
        middle = len(reuters_600.values) // 2
        asyncio.run(produce_paced(settings, reuters_600.values[:middle], per_second=40))
        broker.kill()  # the supervisor starts it again on its data folder and ports
        wait_for(lambda: broker.exit_code() is None and broker.answers(), 90, "the broker back on its port")
        asyncio.run(produce_paced(settings, reuters_600.values[middle:], per_second=40))

        tagged, letters = outcome(settings, reuters_600, timeout=300)
        assert pipeline.failure is None, pipeline.failure
        assert_nothing_lost_and_verdicts_as_uninterrupted(reuters_600, tagged, letters)
        assert_each_alert_reached_the_webhook_once(settings, hook)
    finally:
        for pipeline in supervised:
            pipeline.stop()
        supervised.clear()
        broker.stop()
