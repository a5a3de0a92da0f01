"""Webhook alerts end to end: a real alert worker process posts to a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import asyncio
import base64
import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from agents.ingest.producer import ingest_paths
from agents.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from streams.settings import Settings
from tests.conftest import metric_value, wait_for
from tests.kafka_io import read_topic_sync
from tests.sink_fixtures import SEED_ALERTS, SEED_TRIGGERS
from tests.webhook_receiver import TOKEN

pytestmark = pytest.mark.integration
SECRET = "s3cret"


def start_pipeline_with_webhook(spawn_worker, settings: Settings, url: str, **extra_env: str):
    """Clean, dedup and tag workers, and an alert worker posting to `url`; returns the alert worker."""
    for stage in ("clean", "dedup", "tag"):
        spawn_worker(stage, settings)
    return spawn_worker("alert", settings, WIREWATCH_WEBHOOK_URL=url, WIREWATCH_WEBHOOK_SECRET=SECRET,
                        WIREWATCH_WEBHOOK_RETRIES="3", **extra_env)


def stop(process) -> str:
    """Stop a worker (SIGTERM) and return its whole log, shutdown lines included."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return Path(process.log_path).read_text(encoding="utf-8", errors="replace")


def test_alerts_reach_the_webhook_signed_once_each_after_a_retry(spawn_worker, pipeline_settings: Settings,
                                                                 seed_paths, webhook_receiver) -> None:
    hook = webhook_receiver([500, 200])
    alert_worker = start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url)
    deadline = time.monotonic() + 90
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))

    alerts = read_topic_sync(pipeline_settings, "alerts", SEED_ALERTS, timeout=deadline - time.monotonic())
    assert len(alerts) == SEED_ALERTS, alerts
    keys = {a["idempotency_key"] for a in alerts}
    assert len(keys) == SEED_ALERTS

    def all_delivered() -> bool:
        return {r.key for r in hook.snapshot() if r.status == 200} >= keys

    wait_for(all_delivered, deadline - time.monotonic(), f"every alert at the webhook; got {hook.snapshot()}")
    requests = hook.snapshot()

    # The first request got a 500 and was tried again with the same key; every other alert went through at once.
    assert requests[0].status == 500
    tries = Counter(r.key for r in requests)
    assert tries == {**{key: 1 for key in keys}, requests[0].key: 2}
    assert set(tries) == keys  # each key is an alert the alerts topic carries, and nothing else arrived

    by_key = {a["idempotency_key"]: a for a in alerts}
    for request in requests:
        assert request.headers["Content-Type"] == "application/json"
        assert verify_signature(SECRET, request.headers[TIMESTAMP_HEADER], request.body,
                                request.headers[SIGNATURE_HEADER])
        body = orjson.loads(request.body)
        assert body["rule_id"] == "korea-summit"
        assert body["idempotency_key"] == request.key
        assert body == {k: v for k, v in by_key[request.key].items() if k != "__faust"}
        assert "__faust" not in body
    assert sorted(orjson.loads(r.body)["trigger"] for r in requests if r.status == 200) == [
        *sorted(SEED_TRIGGERS)]

    log = stop(alert_worker)
    assert "attempt 1/3 failed" in log  # the retry was logged, so the log is the one that saw the webhook
    assert SECRET not in log and TOKEN not in log


def test_a_rejected_alert_is_dead_lettered_and_stays_on_the_alerts_topic(spawn_worker, pipeline_settings: Settings,
                                                                         seed_paths, webhook_receiver) -> None:
    hook = webhook_receiver([400])
    alert_worker = start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))

    letters = read_topic_sync(pipeline_settings, "deadletter", 1, timeout=90)
    assert letters, "no dead letter within 90 s"
    letter = letters[0]
    assert letter["stage"] == "alert"
    assert letter["reason"].startswith("webhook_")
    assert letter["reason"] == "webhook_rejected"  # a 400 is final: no retry
    rejected = orjson.loads(base64.b64decode(letter["original_b64"]))
    assert rejected["rule_id"] == "korea-summit"

    alerts = read_topic_sync(pipeline_settings, "alerts", SEED_ALERTS, timeout=30)
    assert rejected["idempotency_key"] in {a["idempotency_key"] for a in alerts}
    requests = hook.snapshot()
    assert rejected["idempotency_key"] in {r.key for r in requests}
    assert len({r.key for r in requests}) == len(requests)  # each alert was posted once: a 400 is not retried

    log = stop(alert_worker)
    assert SECRET not in log and TOKEN not in log


def test_a_digest_rule_posts_its_alerts_as_one_message(spawn_worker, pipeline_settings: Settings, seed_paths,
                                                       webhook_receiver, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n- {id: korea-digest, description: Korea in one message, when: {entities: [Kim Jong Un]},"
                     " triggers: [new_story, new_development], channels: [topic, webhook], digest: 10s}\n")
    hook = webhook_receiver([200])
    start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url, WIREWATCH_RULES_FILE=str(rules))
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))

    alerts = read_topic_sync(pipeline_settings, "alerts", SEED_ALERTS, timeout=90)
    assert sorted(a["trigger"] for a in alerts) == sorted(SEED_TRIGGERS)  # the topic has each alert as it fired
    wait_for(hook.snapshot, 40, "a digest at the webhook")
    time.sleep(6)  # a tick later: nothing else arrives
    [request] = hook.snapshot()
    digest = orjson.loads(request.body)
    assert (digest["trigger"], digest["title"]) == ("digest", "2 alerts for korea-digest")
    assert sorted(digest["members"]) == sorted(a["idempotency_key"] for a in alerts)
    assert any(line.startswith("new development: ") for line in digest["new_sentences"])


def test_an_alert_worker_killed_after_delivery_sends_nothing_twice_when_restarted(
        spawn_worker, pipeline_settings: Settings, seed_paths, webhook_receiver) -> None:
    hook = webhook_receiver([200])
    never_commits = {"WIREWATCH_COMMIT_INTERVAL": "600"}  # so the restarted worker reads every article again
    crashed = start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url, **never_commits)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    wait_for(lambda: len(hook.snapshot()) >= SEED_ALERTS, 90, "the seed alerts at the webhook")
    time.sleep(1)  # the ledger's changelog writes leave the producer
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)

    restarted = spawn_worker("alert", pipeline_settings, WIREWATCH_WEBHOOK_URL=hook.url,
                             WIREWATCH_WEBHOOK_SECRET=SECRET, **never_commits)
    wait_for(lambda: metric_value(restarted.web_port, 'wirewatch_articles_total{outcome="out",stage="alert"}') >= 3,
             90, "the restarted worker handling the seeds' tagged articles again")
    time.sleep(2)
    assert Counter(r.key for r in hook.snapshot()) == {key: 1 for key in {r.key for r in hook.snapshot()}}
    assert len(hook.snapshot()) == SEED_ALERTS
    alerts = read_topic_sync(pipeline_settings, "alerts", SEED_ALERTS + 1, timeout=5)
    assert len(alerts) == SEED_ALERTS  # the alerts topic did not get them twice either
