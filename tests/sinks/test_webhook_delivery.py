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
from streams.records import CleanArticle, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import Settings
from tests.conftest import metric_value, wait_for
from tests.kafka_io import changelog_to_end, produce, read_to_end, read_topic_sync, read_until
from tests.sink_fixtures import SEED_ALERTS, SEED_TRIGGERS
from tests.webhook_receiver import HOLD, TOKEN

pytestmark = pytest.mark.integration
SECRET = "s3cret"
HANDLED = 'wirewatch_articles_total{outcome="out",stage="alert"}'


def redelivered(sink: str) -> str:
    return f'wirewatch_alerts_total{{outcome="redelivered",rule="korea-summit",sink="{sink}"}}'


def marker_article() -> TaggedArticle:
    """A new story naming Kim Jong Un, as the tag stage would hand it on: one more alert of the Korea rules."""
    title, text = "Kim Jong Un visits a factory", "Kim Jong Un visited a tractor factory on Tuesday."
    clean = CleanArticle(id="marker", title=title, paragraphs=[text], source="Wire", ingested_at=1.0)
    start = len(title) + 2  # the title and a blank line come first in the text entity offsets point into
    kim = EntityMention(start=start, end=start + len("Kim Jong Un"), text="Kim Jong Un", label="PERSON",
                        canonical="Kim Jong Un")
    return TaggedArticle(article=clean, verdict=DedupVerdict(kind="new", story_id="marker"), entities=[kim])


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
    assert tries == {**dict.fromkeys(keys, 1), requests[0].key: 2}
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

    # Nothing else comes of the seeds' alerts: a marker alert of the same rule, raised after the digest went out,
    # takes the same way (alert agent, digest topic, the next digest) and arrives alone in the digest after.
    asyncio.run(produce(pipeline_settings, "tagged", [(b"marker", marker_article().dumps())]))
    alerts_now = asyncio.run(read_until(pipeline_settings, "alerts", lambda got: len(got) > SEED_ALERTS, timeout=60))
    [marker] = [a for a in alerts_now if a["article_id"] == "marker"]
    wait_for(lambda: any(marker["idempotency_key"] in orjson.loads(r.body)["members"] for r in hook.snapshot()), 40,
             "the marker's digest at the webhook")
    first, second = [orjson.loads(request.body) for request in hook.snapshot()]
    assert (first["trigger"], first["title"]) == ("digest", "2 alerts for korea-digest")
    assert sorted(first["members"]) == sorted(a["idempotency_key"] for a in alerts)
    assert any(line.startswith("new development: ") for line in first["new_sentences"])
    assert (second["title"], second["members"]) == ("1 alert for korea-digest", [marker["idempotency_key"]])


NEVER_COMMITS = {"WIREWATCH_COMMIT_INTERVAL": "600"}  # so a restarted alert worker reads every article again


def kill_and_restart(crashed, spawn_worker, settings: Settings, url: str):
    """SIGKILL an alert worker and start another; returns it once it handled the seeds' 3 tagged articles again, so
    whatever it was going to send, it has sent."""
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)
    restarted = spawn_worker("alert", settings, WIREWATCH_WEBHOOK_URL=url, WIREWATCH_WEBHOOK_SECRET=SECRET,
                             **NEVER_COMMITS)
    wait_for(lambda: metric_value(restarted.web_port, HANDLED) >= 3, 90,
             "the restarted worker handling the seeds' tagged articles again")
    return restarted


def delivery_marks(settings: Settings) -> dict[str, dict | None]:
    """The alert ledger's latest mark per "{idempotency key}:{sink}", as its changelog on the broker has it."""
    return dict(changelog_to_end(settings, "alert", "alert-deliveries"))


def test_an_alert_worker_killed_after_delivery_sends_nothing_twice_when_restarted(
        spawn_worker, pipeline_settings: Settings, seed_paths, webhook_receiver) -> None:
    hook = webhook_receiver([200])
    crashed = start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url, **NEVER_COMMITS)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    keys = {r.key for r in wait_for(lambda: len(hook.snapshot()) >= SEED_ALERTS and hook.snapshot(), 90,
                                    "the seed alerts at the webhook")}
    # Killed once the broker has each delivery recorded, not a guessed moment later.
    wait_for(lambda: all((delivery_marks(pipeline_settings).get(f"{key}:webhook") or {}).get("delivered")
                         for key in keys), 30, "the deliveries on the ledger's changelog")
    restarted = kill_and_restart(crashed, spawn_worker, pipeline_settings, hook.url)
    assert sorted(r.key for r in hook.snapshot()) == sorted(keys)  # each once, the first worker's
    assert metric_value(restarted.web_port, redelivered("webhook")) == 0
    assert len(read_to_end(pipeline_settings, "alerts")) == SEED_ALERTS  # the alerts topic did not get them twice


def test_an_alert_worker_killed_between_delivery_and_its_record_resends_that_alert_once_with_its_key(
        spawn_worker, pipeline_settings: Settings, seed_paths, webhook_receiver) -> None:
    hook = webhook_receiver([HOLD, 200])  # the first alert is received but never answered: the worker waits
    crashed = start_pipeline_with_webhook(spawn_worker, pipeline_settings, hook.url, WIREWATCH_WEBHOOK_TIMEOUT="600",
                                          **NEVER_COMMITS)
    asyncio.run(ingest_paths(seed_paths, pipeline_settings))
    [held] = wait_for(hook.snapshot, 90, "the first alert at the webhook")
    # The receiver has the alert; the ledger on the broker says only that it was attempted.
    wait_for(lambda: delivery_marks(pipeline_settings).get(f"{held.key}:webhook"), 30,
             "the attempt on the ledger's changelog")
    webhook, topic = (delivery_marks(pipeline_settings)[f"{held.key}:{sink}"] for sink in ("webhook", "topic"))
    assert webhook is not None and webhook["delivered"] is None
    assert topic is not None and topic["delivered"]  # the topic had it before
    restarted = kill_and_restart(crashed, spawn_worker, pipeline_settings, hook.url)
    requests = hook.snapshot()
    # Resent once, first, under the same key; then the development the first worker never reached, once.
    assert [r.key for r in requests[:2]] == [held.key, held.key] and requests[1].status == 200
    assert len(requests) == SEED_ALERTS + 1 and requests[2].key != held.key
    again, first = orjson.loads(requests[1].body), orjson.loads(held.body)
    assert {**again, "created_at": None} == {**first, "created_at": None}  # the same alert, raised again
    assert metric_value(restarted.web_port, redelivered("webhook")) == 1
    assert metric_value(restarted.web_port, redelivered("topic")) == 0  # the topic's delivery was recorded
    alerts = read_to_end(pipeline_settings, "alerts")
    assert sorted(a["idempotency_key"] for a in alerts) == sorted(r.key for r in requests[1:])
    log = stop(restarted)
    assert "redelivering an alert whose delivery was interrupted" in log
