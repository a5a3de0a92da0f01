"""Scrape cost: the size and render time of an alert worker's `/metrics` with 100 rules on 4 partitions, after traffic.

    .venv/bin/python -m benchmarks.scrape_cost [--rules 100] [--partitions 4] [--articles 20] [--scrapes 20] [--runs 3]

One embedded broker; each run starts one alert worker (its own process, as `wirewatch run` does) on a fresh topic
prefix with `--partitions` partitions and `--rules` keyword rules that all fire on every benchmark article, each
delivered to the alerts topic, the alert stream (sse) and a webhook (`alert_latency`'s receiver, in this process),
so that its page carries every rule × sink series such a worker has. `--articles` tagged articles, each its own
story (spread over the partitions by their keys), are written to the tagged topic; once the worker has counted them
all out, its `/metrics` is fetched `--scrapes` times in a row over loopback: bytes, samples (lines that are not
comments), and the time from sending the request to the last byte (what Prometheus's `scrape_duration_seconds`
sees: rendering, plus loopback HTTP); then `/healthz` as many times, the same worker's HTTP round trip with a
3-byte body, so the difference is what the page itself costs. Each run reports medians over its fetches; the last
line, medians over runs.
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import yaml

from agents.ingest.producer import kafka_producer
from benchmarks.alert_latency import WebhookReceiver, serving
from benchmarks.pipeline_throughput import TIMEOUT, Worker, check_alive, spawn, stop
from streams.records import CleanArticle, DedupVerdict, TaggedArticle
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for

KEYWORD = "benchmark"


def rules_file(path: Path, count: int) -> Path:
    """`count` rules that each fire on every benchmark article's new story, delivered to three sinks."""
    rules = [{"id": f"rule-{number:03d}", "description": f"scrape benchmark rule {number}",
              "when": {"keywords": [KEYWORD]}, "triggers": ["new_story"], "channels": ["topic", "sse", "webhook"]}
             for number in range(count)]
    path.write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    return path


def article(number: int) -> TaggedArticle:
    story = f"scrape-{number}"
    body = CleanArticle(id=story, title=f"A {KEYWORD} wire, number {number}", paragraphs=[f"The {KEYWORD} text."],
                        source="wirewatch-benchmark", ingested_at=time.time())
    return TaggedArticle(article=body, verdict=DedupVerdict(kind="new", story_id=story))


async def send_articles(settings: Settings, count: int) -> None:
    producer = kafka_producer(settings)
    await producer.start()
    try:
        for number in range(count):
            item = article(number)
            await producer.send(topic_name(settings, "tagged"), item.dumps(), key=item.verdict.story_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_handled(worker: Worker, count: int) -> None:
    """Return once the worker has counted `count` articles out (each delivered to every sink its rules name)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        check_alive([worker])
        try:
            handled = sum(sample.value for sample in await asyncio.to_thread(worker.samples)
                          if sample.name == "wirewatch_articles_total" and sample.labels["outcome"] == "out")
        except OSError:  # its web server is not up yet
            handled = 0
        if handled >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the alert worker handled {handled:.0f} of {count} articles in {TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)


def fetch(worker: Worker, path: str) -> tuple[bytes, float]:
    """The body of one GET of `path` on the worker's web port, and the seconds until its last byte."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=10) as response:
        body = response.read()
    return body, time.perf_counter() - started


def scrape(worker: Worker) -> tuple[int, int, float, float]:
    """(bytes, samples, seconds) of one fetch of the worker's `/metrics`, and the seconds of one of `/healthz`."""
    body, took = fetch(worker, "/metrics")
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return len(body), samples, took, fetch(worker, "/healthz")[1]


async def one_run(broker_url: str, work: Path, options: argparse.Namespace) -> tuple[float, ...]:
    """Median bytes, samples and milliseconds of `options.scrapes` scrapes of one alert worker after its traffic,
    and the median milliseconds of as many `/healthz` fetches."""
    secret = secrets.token_hex(16)
    async with serving(WebhookReceiver(secret)) as webhook_url:
        settings = Settings.from_env({}, broker=broker_url, topic_prefix=f"scrape{uuid.uuid4().hex[:8]}",
                                     partitions=options.partitions, data_dir=work / "data",
                                     rules_file=rules_file(work / "rules.yaml", options.rules),
                                     webhook_url=webhook_url, webhook_secret=secret)
        await create_topics(settings)
        worker = spawn("alert", settings, work)
        try:
            await send_articles(settings, options.articles)
            await wait_handled(worker, options.articles)
            figures = [await asyncio.to_thread(scrape, worker) for _ in range(options.scrapes)]
        finally:
            await asyncio.to_thread(stop, [worker])
    size, samples, seconds, health_seconds = (statistics.median(column) for column in zip(*figures, strict=True))
    return size, samples, 1000 * seconds, 1000 * health_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wirewatch-scrape-") as folder:
        root = Path(folder)
        with broker_for(Settings.from_env({}), root / "kafka", root / "broker.log") as broker:
            results = []
            for number in range(options.runs):
                work = root / f"run{number + 1}"
                work.mkdir()
                results.append(asyncio.run(one_run(broker.url, work, options)))
                size, samples, millis, health_millis = results[-1]
                print(f"run {number + 1}: {size / 1024:.1f} KiB, {samples:.0f} samples, {millis:.1f} ms per scrape, "
                      f"{health_millis:.1f} ms per /healthz")
    size, samples, millis, health_millis = (statistics.median(column) for column in zip(*results, strict=True))
    print(f"alert worker, {options.rules} rules, {options.partitions} partitions, {options.articles} articles: "
          f"/metrics {size / 1024:.1f} KiB ({size:.0f} bytes), {samples:.0f} samples, {millis:.1f} ms per scrape, "
          f"{health_millis:.1f} ms per /healthz (medians of {options.runs} runs × {options.scrapes} fetches)")


if __name__ == "__main__":
    main()
