"""Every wirewatch metric, declared once; labels are bounded (stage, outcome, verdict, label, rule, sink, reason)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

OUTCOMES = ("in", "out", "failed")

ARTICLES = Counter("wirewatch_articles_total", "Articles handled by a stage.", ["stage", "outcome"])
STAGE_SECONDS = Histogram(
    "wirewatch_stage_seconds", "Time a stage spends on one article (a batch's time is split over its articles).",
    ["stage"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
DEDUP_VERDICTS = Counter("wirewatch_dedup_verdicts_total", "Dedup verdicts by kind.", ["verdict"])
ENTITIES = Counter("wirewatch_entities_total", "Entity mentions tagged, by label.", ["label"])
ALERTS = Counter("wirewatch_alerts_total", "Alerts delivered, by rule id and sink.", ["rule", "sink", "outcome"])
DEAD_LETTERS = Counter("wirewatch_dead_letters_total", "Inputs sent to the dead-letter topic.", ["stage", "reason"])
WORKER_RESTARTS = Counter(
    "wirewatch_worker_restarts_total", "Processes `wirewatch run` restarted after they died (a stage's worker, or "
    "the broker).", ["stage"])
END_TO_END_SECONDS = Histogram(
    "wirewatch_end_to_end_seconds", "Time from ingest to an alert on the alerts topic (the broker has it).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0))
LAST_PROCESSED = Gauge(
    "wirewatch_last_processed_timestamp_seconds", "Unix time the stage last finished an event (0: none since the "
    "worker started).", ["stage"])
IN_FLIGHT = Gauge("wirewatch_in_flight_records", "Events taken from the stream and not yet finished.", ["stage"])
REBALANCES = Counter("wirewatch_rebalances_total", "Consumer-group rebalances this worker took part in (its first "
                     "join included).", ["stage"])
RECOVERY_RESTORED = Gauge(
    "wirewatch_table_recovery_restored_records", "Changelog records restored into this worker's tables in its "
    "current (or latest) recovery.", ["stage"])
RECOVERY_REMAINING = Gauge(
    "wirewatch_table_recovery_remaining_records", "Changelog records this worker's tables still have to restore.",
    ["stage"])
WORKER_READY = Gauge("wirewatch_worker_ready", "1 when the worker's /readyz says ready, else 0.", ["stage"])
ALERT_DELIVERY_SECONDS = Histogram(
    "wirewatch_alert_delivery_seconds", "Time from an alert's creation to its delivery by a sink.", ["sink"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0))

CONSUMER_LAG_RECORDS = Gauge(
    "wirewatch_consumer_lag_records", "Records of an input partition this worker owns that its stage has not "
    "committed (end offset - committed offset).", ["stage", "topic", "partition"])
CONSUMER_LAG_SECONDS = Gauge(
    "wirewatch_consumer_lag_seconds", "Age of the oldest record of an input partition this worker owns that its "
    "stage has not committed (0 when none waits).", ["stage", "topic", "partition"])


@contextmanager
def stage_timer(stage: str, articles: int = 1) -> Iterator[None]:
    """Observe the block's duration once per article, each getting an equal share."""
    started = time.perf_counter()
    yield
    share = (time.perf_counter() - started) / max(articles, 1)
    for _ in range(articles):
        STAGE_SECONDS.labels(stage).observe(share)


def initialise_labels(stage: str) -> None:
    """Export every per-stage series of `stage` at zero so dashboards see them before the first article."""
    for outcome in OUTCOMES:
        ARTICLES.labels(stage, outcome)
    for metric in (STAGE_SECONDS, LAST_PROCESSED, IN_FLIGHT, REBALANCES, RECOVERY_RESTORED, RECOVERY_REMAINING,
                   WORKER_READY):
        metric.labels(stage)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
