"""Articles/s and ingest → tagged latency of the whole streaming pipeline on Reuters-21578, against plain `nlp.pipe`
on the same texts in the same run, with 1 and 2 tag workers; medians of several runs.

    .venv/bin/python -m benchmarks.pipeline_throughput [--articles 2000] [--tag-workers 1 2] [--runs 3]
                                                       [--guarantee at_least_once|exactly_once]

Each run starts an embedded Apache Kafka broker, creates topics under a fresh prefix, spawns the stage workers as
their own processes (clean, dedup, N tag, alert), waits for one warm-up article to pass through every stage,
ingests the first `--articles` wires by date from a JSONL file and reads the tagged topic until all of them
arrived. Per-stage busy time comes from each worker's `/metrics` (the difference across the measured window), CPU
time of each stage's processes and of the broker from `/proc/PID/stat` (same window), peak memory from
`/proc/PID/status` (VmHWM). The reference: one process with the stage's model and pipes
(`load_ner`, warmed up) runs plain `nlp.pipe` over the same articles' texts (`plain_pipe`, batch
`WIREWATCH_TAG_BATCH_SIZE`), in the same run, before or after the pipeline pass (alternating).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agents.clean.core import clean_article
from agents.ingest.producer import ingest_paths
from benchmarks.nlp_reference import ReferencePool
from benchmarks.procfs import cpu_seconds, peak_rss_mib
from benchmarks.reuters import reuters_raw
from benchmarks.reuters_reference import clean_reuters
from streams.raw import raw_from_mapping
from streams.settings import ENV_PREFIX, Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for, die_with_parent, free_port

REPO = Path(__file__).resolve().parent.parent
STAGES = ("clean", "dedup", "tag", "alert")
WARMUP_ID = "warmup"
WARMUP = {"id": WARMUP_ID, "title": "Benchmark warm-up", "source": "wirewatch-benchmark", "date": "1987-01-01",
          "text": "LONDON, Jan 1 - The warm-up wire checks that every stage of the pipeline has joined its group."}
TIMEOUT = 600.0  # seconds for any one wait (workers join in about 5 s; tag loads spaCy first)


@dataclass
class Worker:
    """One stage worker process and the port of its `/metrics` page."""

    stage: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def samples(self) -> list[Sample]:
        """Every sample on the worker's `/metrics` page now."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def metrics(self) -> tuple[float, float]:
        """(seconds spent in the stage, articles in) so far, from the worker's `/metrics`."""
        busy = count = 0.0
        for sample in self.samples():
            if sample.labels.get("stage") != self.stage:
                continue
            if sample.name == "wirewatch_stage_seconds_sum":
                busy = sample.value
            elif sample.name == "wirewatch_articles_total" and sample.labels.get("outcome") == "in":
                count = sample.value
        return busy, count

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory (VmHWM) in MiB."""
        return peak_rss_mib(self.process.pid)


def spawn(stage: str, settings: Settings, logs: Path, port: int | None = None) -> Worker:
    """Start `wirewatch worker STAGE` with the settings as `WIREWATCH_*` variables, as the integration tests do; a
    worker started again on its predecessor's web port finds that one's tables on disk."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    environ.update(settings.to_env())
    port = port or free_port()
    environ[f"{ENV_PREFIX}WEB_PORT"] = str(port)
    log_path = logs / f"{stage}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "wirewatch.cli", "worker", stage], cwd=REPO, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=die_with_parent)  # noqa: PLW1509 — prctl only: no lock a thread could hold
    return Worker(stage, process, port, log_path)


def spawn_replicas(stage: str, count: int, settings: Settings, logs: Path) -> list[Worker]:
    """`count` workers of one stage, each logging in its own folder `logs/workerN` (a log is named after its stage)."""
    workers = []
    for number in range(count):
        (logs / f"worker{number + 1}").mkdir(parents=True)
        workers.append(spawn(stage, settings, logs / f"worker{number + 1}"))
    return workers


def stop(workers: list[Worker]) -> None:
    """SIGTERM every worker, then SIGKILL those still running after 20 s."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def check_alive(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.process.poll() is not None:
            raise SystemExit(f"{worker.stage} worker exited with {worker.process.returncode}; see {worker.log_path}")


async def wait_for_alert(alert: Worker, workers: list[Worker], at_least: float) -> None:
    """Return once the alert worker counted `at_least` articles in; fail if a worker dies or TIMEOUT passes."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        check_alive(workers)
        try:
            if alert.metrics()[1] >= at_least:
                return
        except (urllib.error.URLError, OSError):  # its web server is not up yet
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"alert worker saw fewer than {at_least:.0f} articles in {TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)


async def fetched(consumer: AIOKafkaConsumer, workers: list[Worker], deadline: float,
                  stalled: Callable[[], str]) -> AsyncIterator[tuple[float, ConsumerRecord]]:
    """Each record the consumer fetches with its arrival time (time.time()); fails, saying `stalled()`, when a worker
    dies or time.monotonic() passes `deadline`."""
    while True:
        check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit(f"{stalled()}; worker logs in {workers[0].log_path.parent}")
        for records in (await consumer.getmany(timeout_ms=100)).values():
            arrived = time.time()
            for record in records:
                yield arrived, record


async def read_tagged(consumer: AIOKafkaConsumer, count: int, workers: list[Worker],
                      skip_warmup: bool = True) -> tuple[list[float], float, float]:
    """Latencies (arrival − ingested_at) of the next `count` articles, the first send and the last arrival time."""
    latencies: list[float] = []
    first_sent, last_arrived = float("inf"), 0.0
    if count == 0:
        return latencies, first_sent, last_arrived

    def stalled() -> str:
        return f"only {len(latencies)}/{count} tagged articles in {TIMEOUT:.0f} s"

    async for last_arrived, record in fetched(consumer, workers, time.monotonic() + TIMEOUT, stalled):
        article = orjson.loads(record.value)["article"]
        if skip_warmup and article["id"].startswith(WARMUP_ID):
            continue
        latencies.append(last_arrived - article["ingested_at"])
        first_sent = min(first_sent, article["ingested_at"])
        if len(latencies) == count:
            break
    return latencies, first_sent, last_arrived


def print_table(results: dict[int, dict[str, float]], column: Callable[[int], str], width: int,
                digits: int, name_width: int = 28) -> None:
    """One row per figure, one column per setup (`column` names it from its worker count)."""
    names = list(dict.fromkeys(name for result in results.values() for name in result))
    print(" " * (name_width + 2) + "".join(f"{column(n):>{width}}" for n in results))
    for name in names:
        print(f"  {name:{name_width}}" + "".join(f"{result.get(name, float('nan')):{width}.{digits}f}"
                                                for result in results.values()))


async def one_run(wires: Path, expected: int, logs: Path, tag_workers: int = 1,
                  overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """Steps 1–6 of one run with `tag_workers` tag workers and settings `overrides`; its figures by row name."""
    logs.mkdir(parents=True)
    with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
        # This process's WIREWATCH_* settings (e.g. the producer linger), with its own broker and topics.
        settings = Settings.from_env(broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                     data_dir=logs / "data", **(overrides or {}))
        await create_topics(settings)
        workers = [spawn(stage, settings, logs) for stage in STAGES if stage != "tag"]
        workers += spawn_replicas("tag", tag_workers, settings, logs / "tag")
        consumer = AIOKafkaConsumer(topic_name(settings, "tagged"), bootstrap_servers=settings.bootstrap_servers,
                                    group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            warmup = logs / "warmup.jsonl"
            warmup.write_bytes(orjson.dumps(WARMUP) + b"\n")
            await ingest_paths([warmup], settings)
            # Reaching the tagged topic proves clean, dedup and tag joined; alert counting it proves alert did.
            await read_tagged(consumer, 1, workers, skip_warmup=False)
            alert = next(w for w in workers if w.stage == "alert")
            await wait_for_alert(alert, workers, 1)
            before = {stage: stage_metrics(workers, stage) for stage in STAGES}
            cpu_before = process_cpu(workers, broker.pid)

            reading = asyncio.create_task(read_tagged(consumer, expected, workers))
            started = time.perf_counter()
            report = await ingest_paths([wires], settings)
            ingest_s = time.perf_counter() - started
            latencies, first_sent, last_arrived = await reading
            await wait_for_alert(alert, workers, before["alert"][1] + expected)
            after = {stage: stage_metrics(workers, stage) for stage in STAGES}
            cpu = {name: seconds - cpu_before[name] for name, seconds in process_cpu(workers, broker.pid).items()}
            rss = {f"{w.stage}{' ' + w.log_path.parent.name if w.stage == 'tag' else ''}": w.peak_rss_mib()
                   for w in workers}
            rss["broker"] = peak_rss_mib(broker.pid) if broker.pid else float("nan")
        finally:
            await consumer.stop()
            stop(workers)
    row = {"pipeline articles/s": expected / (last_arrived - first_sent), "ingest articles/s": report.sent / ingest_s,
           "latency p50 (s)": statistics.median(latencies),
           "latency p99 (s)": statistics.quantiles(latencies, n=100, method="inclusive")[98]}
    for stage in STAGES:
        busy, count = (a - b for a, b in zip(after[stage], before[stage], strict=True))
        row[f"{stage} ms/article"] = 1000 * busy / max(count, 1)
    row.update({f"{name} CPU ms/article": 1000 * seconds / expected for name, seconds in cpu.items()})
    row["all CPU ms/article"] = 1000 * sum(cpu.values()) / expected
    row.update({f"{name} peak RSS MiB": peak for name, peak in rss.items()})
    return row


def process_cpu(workers: list[Worker], broker_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of each stage's processes together and of the broker (/proc): where the cores went."""
    seconds = {stage: sum(cpu_seconds(w.process.pid) for w in workers if w.stage == stage) for stage in STAGES}
    seconds["broker"] = cpu_seconds(broker_pid) if broker_pid else 0.0
    return seconds


def stage_metrics(workers: list[Worker], stage: str) -> tuple[float, float]:
    """(busy seconds, articles in) of all the workers of `stage` together."""
    figures = [w.metrics() for w in workers if w.stage == stage]
    return sum(busy for busy, _ in figures), sum(count for _, count in figures)


def clean_count(raws: list[dict]) -> int:
    """How many clean articles the clean stage makes of these raw wires: what the later stages will see."""
    max_bytes = Settings.from_env().max_article_bytes
    return sum(len(clean_article(raw_from_mapping(r, max_bytes=max_bytes))) for r in raws)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=2000)
    options.add_argument("--tag-workers", type=int, nargs="+", default=[1, 2])
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--guarantee", choices=["at_least_once", "exactly_once"], default="at_least_once")
    args = options.parse_args()
    settings = Settings.from_env()
    raws = reuters_raw(args.articles)  # exits with a clear message when the data set is absent
    texts = [article.full_text for article in clean_reuters(settings, raws)]
    expected = len(texts)
    work = Path(tempfile.mkdtemp(prefix="wirewatch-pipeline-bench-"))
    wires = work / "reuters.jsonl"
    wires.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in raws))
    warmup = [a.full_text for a in clean_reuters(settings, reuters_raw(args.articles + 64)[args.articles:])]

    results = {}
    with ReferencePool(1, settings, {"all": texts}, warmup) as pool:
        for count in args.tag_workers:
            rows = []
            for run in range(args.runs):
                reference_first = (run + count) % 2 == 0
                reference = pool.seconds("all") if reference_first else None
                row = asyncio.run(one_run(wires, expected, work / f"tag{count}-run{run + 1}", count,
                                          {"processing_guarantee": args.guarantee}))
                wall, reference_cpu = reference or pool.seconds("all")
                row["nlp.pipe articles/s"] = expected / wall
                row["nlp.pipe CPU ms/article"] = 1000 * reference_cpu / expected
                row["ratio pipeline / nlp.pipe"] = row["pipeline articles/s"] / row["nlp.pipe articles/s"]
                rows.append(row)
            results[count] = {name: (max if name.endswith("MiB") else statistics.median)(r[name] for r in rows)
                              for name in rows[0]}
    environment = sorted(f"{name}={value}" for name, value in os.environ.items() if name.startswith(ENV_PREFIX))
    print(f"Reuters-21578, first {len(raws)} wires by date ({expected} clean articles), embedded Apache Kafka, "
          f"{args.guarantee}, clean, dedup, N tag and alert workers, {os.cpu_count()} CPUs, medians of {args.runs} "
          f"runs (peak RSS: the highest); nlp.pipe in one process on the same texts, same run; logs in {work}; "
          f"settings from the environment: {environment or 'none'}")
    print_table(results, lambda n: f"{n} tag worker" + "s" * (n > 1), width=16, digits=2)


if __name__ == "__main__":
    main()
