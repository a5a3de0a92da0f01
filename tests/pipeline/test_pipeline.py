"""The pipeline on the embedded broker, each stage its own worker process; a second client talks to it too."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import confluent_kafka
import orjson
import pytest

from agents.ingest.producer import ingest_paths, kafka_producer
from streams.settings import Settings
from streams.topics import topic_name
from tests.conftest import REPO, SpawnedWorker, metric_value, wait_for
from tests.kafka_io import group_members, read_to_end, read_topic_sync, wait_consumed
from tests.sink_fixtures import SEED_ALERTS

pytestmark = pytest.mark.integration
PIPELINE = ("clean", "dedup", "tag", "alert")


def start_pipeline(spawn_worker: Callable[..., SpawnedWorker], settings: Settings,
                   stages: tuple[str, ...] = PIPELINE) -> list[SpawnedWorker]:
    return [spawn_worker(stage, settings) for stage in stages]


def test_seeds_through_four_worker_processes(spawn_worker, pipeline_settings: Settings, seed_paths,
                                             tmp_path: Path) -> None:
    start_pipeline(spawn_worker, pipeline_settings)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    read_topic_sync(pipeline_settings, "tagged", 3, timeout=90)
    asyncio.run(ingest_paths(seed_paths[1:], pipeline_settings))  # the other outlet's copy again: a duplicate

    tagged = read_topic_sync(pipeline_settings, "tagged", 4, timeout=60)
    assert [t["verdict"]["kind"] for t in tagged] == ["new", "update", "same_story", "duplicate"]
    tagged = tagged[:3]
    new, update, _ = tagged
    assert update["verdict"]["matched_id"] == new["article"]["id"]
    assert {t["verdict"]["story_id"] for t in tagged} == {new["article"]["id"]}
    assert any("Ko Min-jung" in s for s in update["verdict"]["added_sentences"])
    canonical = {(e["canonical"], e["label"]) for t in tagged for e in t["entities"]}
    for name, label in [("Donald Trump", "PERSON"), ("Kim Jong Un", "PERSON"), ("Moon Jae-in", "PERSON"),
                        ("North Korea", "GPE"), ("South Korea", "GPE")]:
        assert (name, label) in canonical
    assert any(name == "Demilitarized Zone" for name, _ in canonical)
    assert all("Donald Trump" in {e["canonical"] for e in t["entities"]} for t in tagged)  # never a bare "Trump"

    # Alerts are keyed by idempotency key, so their order across partitions is not the articles' order.
    # The other outlet's copy adds two names (Xi, China): fewer new facts than a development needs, so no alert;
    # nor does the duplicate.
    wait_consumed(pipeline_settings, "alert", "tagged")  # all four handled: any alert of theirs is on the topic
    alerts = read_to_end(pipeline_settings, "alerts")
    assert sorted((a["rule_id"], a["trigger"], a["verdict"]) for a in alerts) == [
        ("korea-summit", "new_development", "update"), ("korea-summit", "new_story", "new")]
    assert len({a["idempotency_key"] for a in alerts}) == SEED_ALERTS
    assert {"Ko Min-jung", "Seoul"} <= set(alerts[[a["trigger"] for a in alerts].index("new_development")]["new_facts"])

    # The offline `process` command runs the same cores in one process: same verdicts, same stories.
    out = tmp_path / "processed.jsonl"
    subprocess.run([sys.executable, "-m", "wirewatch.cli", "process", *map(str, seed_paths), "--out", str(out)],
                   cwd=REPO, check=True, timeout=120)
    offline = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(o["id"], o["verdict"], o["story_id"]) for o in offline] == \
        [(t["article"]["id"], t["verdict"]["kind"], t["verdict"]["story_id"]) for t in tagged]


def test_reingested_seed_is_a_duplicate_and_bad_input_is_dead_lettered(spawn_worker, pipeline_settings: Settings,
                                                                       seed_paths, tmp_path: Path) -> None:
    start_pipeline(spawn_worker, pipeline_settings, ("clean", "dedup"))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"title": "broken", \n{"title": "no body"}\n{"text": 7}\n\xff\xfe\n')
    huge = tmp_path / "huge.txt"
    huge.write_text("word " * 4_000_000)  # 20 MB
    report = asyncio.run(ingest_paths([seed_paths[1], bad, huge, seed_paths[1]], pipeline_settings))
    assert (report.sent, report.dead_lettered) == (6, 1)

    deduped = read_topic_sync(pipeline_settings, "deduped", 2, timeout=60)
    assert [d["verdict"]["kind"] for d in deduped] == ["new", "duplicate"]
    letters = read_topic_sync(pipeline_settings, "deadletter", 5, timeout=30)
    assert sorted((d["stage"], d["reason"]) for d in letters) == sorted([
        ("ingest", "too_large"), ("clean", "malformed_json"), ("clean", "empty_body"), ("clean", "wrong_type"),
        ("clean", "not_utf8")])
    too_large = next(d for d in letters if d["reason"] == "too_large")
    assert too_large["truncated"] and too_large["original_size"] > 20_000_000 and too_large["origin"] == str(huge)
    # Each names the file and line it came from, although the clean stage could not even parse some of them.
    assert sorted(d["origin"] for d in letters if d["stage"] == "clean") == [f"{bad}:{n}" for n in range(1, 5)]


def test_two_clean_workers_share_the_partitions(spawn_worker, pipeline_settings: Settings, tmp_path: Path) -> None:
    workers = [spawn_worker("clean", pipeline_settings), spawn_worker("clean", pipeline_settings)]
    wait_for(lambda: asyncio.run(group_members(pipeline_settings, "clean")) == 2, 60, "both clean workers in the group")
    asyncio.run(produce_raw(pipeline_settings, [
        orjson.dumps({"id": f"a{i}", "title": f"Story {i}", "text": f"Paragraph number {i} of a short test wire."})
        for i in range(200)]))
    clean = read_topic_sync(pipeline_settings, "clean", 200, timeout=90)
    assert sorted(c["id"] for c in clean) == sorted(f"a{i}" for i in range(200))
    handled = [metric_value(worker_port(worker), 'wirewatch_articles_total{outcome="in",stage="clean"}')
               for worker in workers]
    assert sum(handled) == 200 and all(count > 0 for count in handled), handled


async def produce_raw(settings: Settings, values: list[bytes]) -> None:
    """Send values to the raw topic round-robin over its partitions, as several independent producers would."""
    producer = kafka_producer(settings)
    await producer.start()
    try:
        for number, value in enumerate(values):
            await producer.send(topic_name(settings, "raw"), value, partition=number % settings.partitions)
        await producer.flush()
    finally:
        await producer.stop()


def worker_port(worker: SpawnedWorker) -> int:
    return worker.web_port


def test_live_metrics_pass_promtool(spawn_worker, pipeline_settings: Settings, seed_paths) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `apt-get install prometheus` (deploy/setup.sh --test does)")
    worker = spawn_worker("clean", pipeline_settings)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    read_topic_sync(pipeline_settings, "clean", 3, timeout=60)
    text = urllib.request.urlopen(f"http://127.0.0.1:{worker_port(worker)}/metrics", timeout=5).read()
    assert b'wirewatch_articles_total{outcome="out",stage="clean"} 3.0' in text
    assert b"wirewatch_stage_seconds_bucket" in text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_confluent_kafka_client_produces_raw_and_reads_alerts(spawn_worker, pipeline_settings: Settings,
                                                              seed_texts) -> None:
    start_pipeline(spawn_worker, pipeline_settings)
    servers = ",".join(pipeline_settings.bootstrap_servers)
    producer = confluent_kafka.Producer({"bootstrap.servers": servers})
    # news-please's field names, as another system would publish them
    producer.produce(topic_name(pipeline_settings, "raw"), key=b"np-1",
                     value=orjson.dumps({"title": "President Donald Trump tweets invite to Kim Jong Un",
                                         "maintext": seed_texts[1], "date_publish": "2019-06-29 09:00:00",
                                         "source_domain": "example-news.com", "language": "en"}))
    assert producer.flush(10) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": servers,
                                         "group.id": f"{pipeline_settings.topic_prefix}-cc",
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic_name(pipeline_settings, "alerts")])
    deadline, alert = time.monotonic() + 90, None
    try:
        while alert is None and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                alert = orjson.loads(message.value() or b"")
    finally:
        consumer.close()
    assert alert is not None, "no alert within 90 s"
    assert alert["rule_id"] == "korea-summit" and alert["source"] == "example-news.com"
    assert message is not None and message.key() == alert["idempotency_key"].encode()
