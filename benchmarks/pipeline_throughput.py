"""Articles/s and ingest → tagged latency of the whole streaming pipeline on Reuters-21578, median of several runs.

    .venv/bin/python -m benchmarks.pipeline_throughput [--articles 1000] [--runs 3]

Each run starts an embedded broker, creates topics under a fresh prefix, spawns the four stage workers as their own
processes, waits for one warm-up article to pass through every stage, ingests the first N wires by date from a JSONL
file and reads the tagged topic until all of them arrived. Per-stage busy time comes from each worker's `/metrics`
(the difference across the measured window), peak memory from `/proc/PID/status` (VmHWM).
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
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agents.admin import create_topics
from agents.clean.core import clean_article
from agents.embedded_broker import broker_for, free_port
from agents.ingest.producer import ingest_paths
from benchmarks.reuters import reuters_raw
from streams.raw import raw_from_mapping
from streams.settings import ENV_PREFIX, Settings
from streams.topics import topic_name

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
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for {self.stage} worker (pid {self.process.pid})")


def spawn(stage: str, settings: Settings, logs: Path) -> Worker:
    """Start `wirewatch worker STAGE` with the settings as `WIREWATCH_*` variables, as the integration tests do."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    environ.update(settings.to_env())
    port = free_port()
    environ[f"{ENV_PREFIX}WEB_PORT"] = str(port)
    log_path = logs / f"{stage}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "agents.cli", "worker", stage], cwd=REPO, env=environ,
                                   stdout=log, stderr=subprocess.STDOUT)
    return Worker(stage, process, port, log_path)


def spawn_replicas(stage: str, count: int, settings: Settings, logs: Path) -> list[Worker]:
    """`count` workers of one stage, each logging in its own folder `logs/workerN` (a log is named after its stage)."""
    workers = []
    for number in range(count):
        (logs / f"worker{number + 1}").mkdir()
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


async def read_tagged(consumer: AIOKafkaConsumer, count: int, workers: list[Worker],
                      skip_warmup: bool = True) -> tuple[list[float], float, float]:
    """Latencies (arrival − ingested_at) of the next `count` articles, the first send and the last arrival time."""
    latencies: list[float] = []
    first_sent, last_arrived = float("inf"), 0.0
    deadline = time.monotonic() + TIMEOUT
    while len(latencies) < count:
        check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(latencies)}/{count} tagged articles in {TIMEOUT:.0f} s; "
                             f"worker logs in {workers[0].log_path.parent}")
        for records in (await consumer.getmany(timeout_ms=200)).values():
            last_arrived = time.time()
            for record in records:
                article = orjson.loads(record.value)["article"]
                if skip_warmup and article["id"].startswith(WARMUP_ID):
                    continue
                latencies.append(last_arrived - article["ingested_at"])
                first_sent = min(first_sent, article["ingested_at"])
    return latencies, first_sent, last_arrived


async def one_run(wires: Path, expected: int, logs: Path) -> dict[str, float]:
    """Steps 1–6 of one run; returns its figures by row name."""
    logs.mkdir(parents=True)
    with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
        settings = Settings.from_env({}, broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                     data_dir=logs / "data")
        await create_topics(settings)
        workers = [spawn(stage, settings, logs) for stage in STAGES]
        consumer = AIOKafkaConsumer(topic_name(settings, "tagged"), bootstrap_servers=settings.bootstrap_servers,
                                    group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            warmup = logs / "warmup.jsonl"
            warmup.write_bytes(orjson.dumps(WARMUP) + b"\n")
            await ingest_paths([warmup], settings)
            # Reaching the tagged topic proves clean, dedup and tag joined; alert counting it proves alert did.
            await read_tagged(consumer, 1, workers, skip_warmup=False)
            alert = workers[STAGES.index("alert")]
            await wait_for_alert(alert, workers, 1)
            before = {w.stage: w.metrics() for w in workers}

            reading = asyncio.create_task(read_tagged(consumer, expected, workers))
            started = time.perf_counter()
            report = await ingest_paths([wires], settings)
            ingest_s = time.perf_counter() - started
            latencies, first_sent, last_arrived = await reading
            await wait_for_alert(alert, workers, before["alert"][1] + expected)
            after = {w.stage: w.metrics() for w in workers}
            rss = {w.stage: w.peak_rss_mib() for w in workers}
        finally:
            await consumer.stop()
            stop(workers)
    row = {"pipeline articles/s": expected / (last_arrived - first_sent), "ingest articles/s": report.sent / ingest_s,
           "latency p50 (s)": statistics.median(latencies),
           "latency p99 (s)": statistics.quantiles(latencies, n=100, method="inclusive")[98]}
    for stage in STAGES:
        busy, count = (a - b for a, b in zip(after[stage], before[stage]))
        row[f"{stage} ms/article"] = 1000 * busy / max(count, 1)
    row.update({f"{stage} peak RSS MiB": rss[stage] for stage in STAGES})
    return row


def clean_count(raws: list[dict]) -> int:
    """How many clean articles the clean stage makes of these raw wires: what the later stages will see."""
    max_bytes = Settings.from_env().max_article_bytes
    return sum(len(clean_article(raw_from_mapping(r, max_bytes=max_bytes))) for r in raws)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=1000)
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    raws = reuters_raw(args.articles)  # exits with a clear message when the data set is absent
    expected = clean_count(raws)
    work = Path(tempfile.mkdtemp(prefix="wirewatch-pipeline-bench-"))
    wires = work / "reuters.jsonl"
    wires.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in raws))

    rows = [asyncio.run(one_run(wires, expected, work / f"run{i + 1}")) for i in range(args.runs)]
    print(f"Reuters-21578, first {len(raws)} wires by date ({expected} clean articles), embedded broker, "
          f"4 stage workers, {os.cpu_count()} CPUs; logs in {work}")
    print(f"  {'':22}" + "".join(f"{'run ' + str(i + 1):>9}" for i in range(len(rows))) + f"{'median':>9}")
    for name in rows[0]:
        values = [row[name] for row in rows]
        print(f"  {name:22}" + "".join(f"{v:9.2f}" for v in values) + f"{statistics.median(values):9.2f}")


if __name__ == "__main__":
    main()
