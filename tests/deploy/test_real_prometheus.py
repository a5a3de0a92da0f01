"""A real Prometheus (Debian's server) scraping a live pipeline on the embedded broker: after the seeds, a few bad
inputs and a Reuters replay, every dashboard query and every alert rule answers with data through Prometheus's HTTP
API, so no misspelt metric or label can pass; then the tag worker stops and its alerts fire, and clear once it is
back.

A rule's expression answers only while it fires, so it is evaluated with every comparison made a `bool` one (and
without its outer `absent()`): that form answers with 0 or 1 for every series the rule compares, and an empty
answer can only mean a series, a matcher or a `by` label it names does not exist. Every selector it reads must find
series on its own, and the labels its `by (…)` keeps and its summary prints must be set on the answer.
"""
from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client import REGISTRY, start_http_server

from agents.ingest.producer import ingest_paths
from benchmarks.reuters import reuters_raw
from streams.settings import Settings
from tests.conftest import SpawnedWorker, shared_data, wait_for
from tests.deploy.queries import (
    Rule,
    alert_rules,
    always_answering,
    grouping_labels,
    panel_expressions,
    selectors,
    template_labels,
    with_variables,
)
from tests.kafka_io import wait_consumed
from wirewatch.embedded_broker import die_with_parent, free_port
from wirewatch.stages import STAGE_MODULES
from wirewatch.supervisor import Supervisor, WorkerProcess, stop_workers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
RATE_INTERVAL = "1m"   # Grafana's $__rate_interval: a minute holds scrapes enough at the test's 1 s interval
REPLAYED = 60          # Reuters wires before the checks, and as many more while the tag worker is stopped
# WirewatchConsumerLagHigh's threshold, lowered so that the tag stage's backlog of the seconds its worker is down and
# starting fires it (the expression is the file's); the other stages, working, stay under it at the end
LAG_THRESHOLD, TEST_LAG_THRESHOLD = "> 120", "> 5"
# The workers read their lag every half second, so the restarted tag worker's backlog shows before it is worked off.
LAG_EVERY_HALF_SECOND = {"WIREWATCH_LAG_INTERVAL": "0.5"}


class Prometheus:
    """A Prometheus server's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **parameters: Any) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(parameters)}"
        with urllib.request.urlopen(address, timeout=30) as response:
            answer = orjson.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now (a scalar answer is one unlabelled series)."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query_range", query=expr, start=start, end=end,
                                                step="1s")["result"]
        return result


@contextmanager
def prometheus_scraping(targets: list[int], folder: Path) -> Iterator[Prometheus]:
    """Debian's Prometheus server on a free port, scraping `127.0.0.1:<port>` of each target every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the Prometheus server is not installed: `apt-get install prometheus` (deploy/setup.sh --test)")
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "wirewatch",
                            "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in targets]}]}]}))
    port = free_port()
    with open(folder / "prometheus.log", "wb") as log:
        server = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                  stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=die_with_parent)  # noqa: PLW1509 — prctl only: no lock a thread could hold
    prometheus = Prometheus(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: [series["value"][1] for series in prometheus.query("count(up == 1)")] == [str(len(targets))],
                 120, "Prometheus up and scraping every worker")
        yield prometheus
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@contextmanager
def supervised_feed(settings: Settings, folder: Path) -> Iterator[list[int]]:
    """The feed worker under `run`'s supervisor: the ports of its /metrics and of this process's, which serves the
    restart counter as `run` does (only that counter: this process's other metrics are the unit tests', not the
    pipeline's)."""
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1",
                                  registry=REGISTRY.restricted_registry(["wirewatch_worker_restarts_total"]))
    feed = WorkerProcess("feed", settings, free_port(), folder / "feed.log")
    Supervisor(max_restarts=0).watch(feed)
    try:
        yield [feed.web_port, port]
    finally:
        stop_workers([feed])
        server.shutdown()


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """`records` written to `path` as JSON lines, the way ingest reads a file of articles."""
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


def answered(prometheus: Prometheus, expr: str, labels: set[str]) -> str | None:
    """None when `expr` answers with series that all have `labels` set; else what is wrong."""
    result = prometheus.query(expr)
    if not result:
        return f"no data from {expr}"
    unset = {label for series in result for label in labels if not series["metric"].get(label)}
    return f"{sorted(unset)} unset on the answer of {expr}" if unset else None


def scraped_since(prometheus: Prometheus, moment: float) -> bool:
    """Whether every target was scraped twice after `moment` (at the 1 s interval): a rate over what happened
    before it then has its samples."""
    oldest = prometheus.query("min(timestamp(up))")
    return bool(oldest) and float(oldest[0]["value"][1]) > moment + 2


def failed_queries(prometheus: Prometheus, queries: list[tuple[str, str, set[str]]]) -> list[str]:
    """What is wrong with each (what, expression, labels it must set) that does not answer as it should."""
    return [f"{what}: {problem}" for what, expr, labels in queries
            if (problem := answered(prometheus, expr, labels)) is not None]


def rule_queries(rule: Rule) -> list[tuple[str, str, set[str]]]:
    """A rule's selectors, and its always-answering form with the labels it groups by and prints."""
    labels = grouping_labels(rule.expr) | template_labels(rule)
    return ([(f"{rule.alert} reads", selector, set()) for selector in selectors(rule.expr)]
            + [(rule.alert, always_answering(rule.expr), labels)])


def panel_queries(title: str, expr: str) -> list[tuple[str, str, set[str]]]:
    """A panel query's selectors, and the query as Grafana sends it with the labels it groups by."""
    expr = with_variables(expr, RATE_INTERVAL)
    return ([(f"{title} reads", selector, set()) for selector in selectors(expr)]
            + [(title, expr, grouping_labels(expr))])


def test_every_query_answers_and_the_tag_stage_alerts_follow_its_worker(
        spawn_worker: Callable[..., SpawnedWorker], pipeline_settings: Settings, seed_paths: list[Path],
        webhook_receiver: Any, tmp_path: Path) -> None:
    shared_data("reuters21578/reuters21578.jsonl.gz")  # skips with a message when the data set is absent
    wires = reuters_raw(2 * REPLAYED)
    settings = pipeline_settings
    receiver = webhook_receiver([400])  # the webhook rejects every alert; the console sink delivers them
    webhook = {"WIREWATCH_WEBHOOK_URL": receiver.url, "WIREWATCH_WEBHOOK_SECRET": "test"}
    workers = {stage: spawn_worker(stage, settings, **LAG_EVERY_HALF_SECOND,
                                   **(webhook if stage == "alert" else {}))
               for stage in STAGE_MODULES if stage != "feed"}
    with supervised_feed(settings, tmp_path) as feed_ports, \
            prometheus_scraping([w.web_port for w in workers.values()] + feed_ports, tmp_path) as prometheus:
        bad = jsonl(tmp_path / "bad.jsonl", [{"title": "no body"}, {"text": 7}])  # two dead letters of clean
        asyncio.run(ingest_paths([*seed_paths, bad, jsonl(tmp_path / "reuters.jsonl", wires[:REPLAYED])], settings))
        for stage, role in [("alert", "tagged"), ("stories", "tagged"), ("entities", "tagged")]:
            wait_consumed(settings, stage, role, timeout=240)

        wait_for(receiver.snapshot, 60, "an alert refused by the webhook")
        done = time.time()
        wait_for(lambda: scraped_since(prometheus, done), 60, "two scrapes of every worker after the replay")
        queries = [q for rule in alert_rules() for q in rule_queries(rule)]
        queries += [q for title, expr in panel_expressions() for q in panel_queries(title, expr)]
        failures = failed_queries(prometheus, queries)
        assert not failures, "\n".join(failures)

        # The tag worker stops: its stage has no ready worker, and what arrives for it waits.
        not_ready = next(r.expr for r in alert_rules() if r.labels.get("stage") == "tag")
        lag_rule = next(r.expr for r in alert_rules() if r.alert == "WirewatchConsumerLagHigh")
        assert lag_rule.count(LAG_THRESHOLD) == 1
        lag_high = lag_rule.replace(LAG_THRESHOLD, TEST_LAG_THRESHOLD)
        tag_port = workers["tag"].web_port
        wait_for(lambda: not prometheus.query(lag_high), 120, "every stage done with the replay: the lag alert quiet")
        workers["tag"].send_signal(signal.SIGTERM)
        workers["tag"].wait(timeout=60)
        wait_for(lambda: prometheus.query(not_ready), 30, "the tag stage's not-ready alert expression to be true")
        asyncio.run(ingest_paths([jsonl(tmp_path / "more.jsonl", wires[REPLAYED:])], settings))
        wait_consumed(settings, "dedup", "clean", timeout=240)  # the backlog is on the tag stage's input

        # It starts again (on the same port, so the same scrape target): its backlog shows, is worked off, clears.
        restarted_at = time.time()
        spawn_worker("tag", settings, WIREWATCH_WEB_PORT=str(tag_port), **LAG_EVERY_HALF_SECOND)
        wait_consumed(settings, "tag", "deduped", timeout=240)
        wait_for(lambda: not prometheus.query(not_ready), 60, "the not-ready alert expression to clear")
        wait_for(lambda: not prometheus.query(lag_high), 60, "the lag alert expression to clear")
        fired = prometheus.query_range(lag_high, restarted_at, time.time())
        assert "tag" in {series["metric"].get("stage") for series in fired}, fired
