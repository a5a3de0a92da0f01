"""What N Reuters wires leave behind on the embedded broker, and how soon a restarted dedup worker judges again.

    .venv/bin/python -m benchmarks.state_recovery [--articles 19778] [--runs 1]

Each run starts an embedded broker, creates topics under a fresh prefix, spawns the four stage workers, passes one
warm-up article through them, ingests the first N dated wires by publish time (default: all of them) and waits until
the tagged topic holds them all and the alert worker counted them in. Then it measures:

1. the broker: its java process's memory (VmRSS now, VmHWM peak) and its data folder, in total and per topic group
   (articles topics, dedup changelogs, other changelogs, `__consumer_offsets`, the rest). Disk is what the files
   occupy (allocated blocks, as `du`): Kafka preallocates each active segment's two index files to 10 MiB as sparse
   files, so their sizes (also printed, as "file sizes") overstate the disk used by about 20 MiB per partition;
2. the peak RSS (VmHWM) of each stage worker;
3. recovery: the dedup worker is stopped (SIGTERM, waited for) and a new one spawned on its web port, as `run`
   restarts one (so it finds its tables where it left them: with `WIREWATCH_TABLE_STORE=rocksdb` it reads only the
   changelog written since, with `memory` the whole changelog); a fresh probe wire is ingested at once, and the run
   times spawn → the new worker's `Worker ready` log line and spawn → the probe's verdict on the deduped topic. Then
   the latest of the N wires that cleans to one unmarked article is ingested again (a new delivery): a worker that
   kept its state calls it a `duplicate`; any other verdict means recovery lost state, and the benchmark exits
   non-zero after its report.

With `--runs` > 1 every figure is printed per run with the median. The full run takes 10+ minutes (the tag stage
does about 40-60 articles/s on 2 cores); the tagged count is printed to stderr every 15 s.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.clean.core import clean_article
from agents.ingest.producer import ingest_paths
from benchmarks.pipeline_throughput import (
    STAGES,
    WARMUP,
    WARMUP_ID,
    Worker,
    check_alive,
    clean_count,
    fetched,
    read_tagged,
    spawn,
    stop,
    wait_for_alert,
)
from benchmarks.procfs import peak_rss_mib
from benchmarks.reuters import reuters_raw
from streams.raw import raw_from_mapping
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import EmbeddedBroker, broker_for

MIB = 1024 * 1024
STALL_TIMEOUT = 600.0  # seconds without a new tagged article (or the awaited verdict) before the run gives up
PROGRESS_EVERY = 15.0  # seconds between progress lines on stderr
PROBE_ID = "recovery-probe"
READY_LINE = b"Worker ready"  # what Faust's recovery logs once its tables are rebuilt and the streams resumed
PARTITION_FOLDER = re.compile(r"^(?P<topic>.+)-\d+$")  # Kafka keeps each partition in `<topic>-<partition>/`


@dataclass
class RunResult:
    """One run's figures by row name, and the verdict the re-sent wire got from the restarted dedup worker."""

    figures: dict[str, float]
    resent_verdict: str


def resident_mib(pid: int) -> float:
    """Resident memory (VmRSS) of a process now, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def topic_group(topic: str, prefix: str) -> str:
    """Which row of the disk report a topic's partitions count in."""
    if topic.startswith(f"{prefix}.articles."):
        return "articles topics"
    if topic.endswith("-changelog"):
        return "dedup changelogs" if "-dedup-" in topic else "other changelogs"
    if topic == "__consumer_offsets":
        return "__consumer_offsets"
    return "other topics"


def broker_disk(data_dir: Path, prefix: str) -> tuple[dict[str, int], int]:
    """Bytes the broker's data folder occupies on disk, per topic group (keys of `topic_group`, plus "total"), and
    the sum of its file sizes (larger: preallocated sparse index files count whole)."""
    allocated: dict[str, int] = {}
    file_sizes = 0
    for folder, _, files in os.walk(data_dir):
        relative = Path(folder).relative_to(data_dir)
        partition = PARTITION_FOLDER.match(relative.parts[0]) if relative.parts else None
        group = topic_group(partition["topic"], prefix) if partition else "other topics"
        for name in files:
            try:
                status = os.stat(Path(folder, name))
            except FileNotFoundError:  # a segment the broker deleted meanwhile
                continue
            allocated[group] = allocated.get(group, 0) + status.st_blocks * 512
            file_sizes += status.st_size
    allocated["total"] = sum(allocated.values())
    return allocated, file_sizes


def resend_wire(raws: list[dict]) -> dict:
    """The latest wire that cleans to exactly one article without a revision mark: ingested again, dedup must call
    it a duplicate by its exact body. The latest, because an exact fingerprint is forgotten after
    WIREWATCH_DEDUP_EXACT_RETENTION_HOURS of stream time, less than the span of the whole corpus; unmarked, because
    a marked revision whose body was seen under another headline is an `update`."""
    max_bytes = Settings.from_env({}).max_article_bytes
    for raw in reversed(raws):
        articles = clean_article(raw_from_mapping(raw, max_bytes=max_bytes))
        if len(articles) == 1 and articles[0].update_note is None:
            return raw
    raise SystemExit("none of the wires cleans to a single unmarked article: nothing to re-send")


def probe_wire(published: str) -> dict:
    """A wire no run has seen, dated `published` (the newest wire's date, so dedup's stream time does not move and
    no state expires because of it)."""
    token = uuid.uuid4().hex
    return {"id": f"{PROBE_ID}-{token}", "title": f"Recovery probe {token}", "source": "wirewatch-benchmark",
            "date": published,
            "text": f"LONDON - Probe {token} measures how soon a restarted deduplication worker gives verdicts "
                    "again after rebuilding its tables from the broker."}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """The records as JSON lines in `path`, the form `ingest_paths` reads."""
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


async def wait_for_tagged(consumer: AIOKafkaConsumer, count: int, workers: list[Worker]) -> None:
    """Read the tagged topic until `count` articles besides the warm-up arrived, printing the count to stderr every
    PROGRESS_EVERY s; fail if a worker dies or nothing arrives for STALL_TIMEOUT s."""
    seen = 0
    started = last_told = last_arrival = time.monotonic()
    while seen < count:
        check_alive(workers)
        now = time.monotonic()
        if now - last_arrival > STALL_TIMEOUT:
            raise SystemExit(f"no tagged article for {STALL_TIMEOUT:.0f} s at {seen}/{count}; worker logs in "
                             f"{workers[0].log_path.parent}")
        if now - last_told >= PROGRESS_EVERY:
            print(f"  tagged {seen}/{count} ({seen / (now - started):.1f} articles/s)", file=sys.stderr, flush=True)
            last_told = now
        for records in (await consumer.getmany(timeout_ms=200)).values():
            last_arrival = time.monotonic()
            seen += sum(not orjson.loads(r.value)["article"]["id"].startswith(WARMUP_ID) for r in records)


async def wait_for_deduped(consumer: AIOKafkaConsumer, wanted: Callable[[dict], bool], workers: list[Worker],
                           started: float) -> tuple[dict, float]:
    """The first deduped record `wanted` accepts and the seconds from `started` (time.monotonic) to its arrival."""
    async for _, record in fetched(consumer, workers, started + STALL_TIMEOUT,
                                   lambda: f"the awaited verdict did not come in {STALL_TIMEOUT:.0f} s"):
        deduped = orjson.loads(record.value)
        if wanted(deduped):
            return deduped, time.monotonic() - started
    raise AssertionError("fetched() ends only by raising")


async def wait_for_log_line(worker: Worker, needle: bytes, workers: list[Worker], started: float) -> float:
    """Seconds from `started` (time.monotonic) until a line of the worker's log contains `needle` (polled every
    50 ms, finer than the logs' one-second timestamps)."""
    deadline = started + STALL_TIMEOUT
    pending = b""
    with open(worker.log_path, "rb") as log:
        while True:
            pending += log.read()
            *lines, pending = pending.split(b"\n")
            if any(needle in line for line in lines):
                return time.monotonic() - started
            check_alive(workers)
            if time.monotonic() > deadline:
                raise SystemExit(f"no {needle.decode()!r} line in {worker.log_path} within {STALL_TIMEOUT:.0f} s")
            await asyncio.sleep(0.05)


async def deduped_consumer_at_end(settings: Settings) -> AIOKafkaConsumer:
    """A consumer of the deduped topic positioned after its last record, so it sees only verdicts given from now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    topic = topic_name(settings, "deduped")
    partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]  # created with WIREWATCH_PARTITIONS
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:  # resolve the end offsets now, before anything new is written
        await consumer.position(partition)
    return consumer


def broker_figures(broker: EmbeddedBroker, prefix: str) -> dict[str, float]:
    """Step 1: the broker's memory and the disk its data takes, MiB."""
    if broker.pid is None:
        raise SystemExit("the broker is not running")
    allocated, file_sizes = broker_disk(broker.data_dir, prefix)
    figures = {"broker VmRSS MiB": resident_mib(broker.pid), "broker VmHWM MiB": peak_rss_mib(broker.pid),
               "broker disk MiB": allocated["total"] / MIB, "broker file sizes MiB": file_sizes / MIB}
    for group in ("articles topics", "dedup changelogs", "other changelogs", "__consumer_offsets", "other topics"):
        figures[f"  {group} MiB"] = allocated.get(group, 0) / MIB
    return figures


async def restart_dedup(workers: list[Worker], settings: Settings, logs: Path, probe: Path, *,
                        resend: Path, resent_id: str) -> tuple[dict[str, float], str]:
    """Step 3: replace the dedup worker in `workers`, time its recovery with the probe, and return the figures and
    the verdict kind of the re-sent wire."""
    consumer = await deduped_consumer_at_end(settings)
    try:
        old = workers[STAGES.index("dedup")]
        stopping = time.monotonic()
        stop([old])
        stop_seconds = time.monotonic() - stopping
        print(f"  dedup worker stopped in {stop_seconds:.1f} s (exit code {old.process.returncode}); restarting it",
              file=sys.stderr, flush=True)
        (logs / "restart").mkdir()  # its own folder: spawn names the log after the stage
        spawned = time.monotonic()
        new = spawn("dedup", settings, logs / "restart", port=old.port)  # as `run` restarts it: its tables on disk
        workers[STAGES.index("dedup")] = new
        ingesting = asyncio.create_task(ingest_paths([probe], settings, progress=False))
        probe_id = orjson.loads(probe.read_bytes())["id"]
        ready_seconds, (_, verdict_seconds), _ = await asyncio.gather(
            wait_for_log_line(new, READY_LINE, workers, spawned),
            wait_for_deduped(consumer, lambda d: d["article"]["id"] == probe_id, workers, spawned),
            ingesting)

        resent_at = time.time()
        await ingest_paths([resend], settings, progress=False)
        resent, _ = await wait_for_deduped(
            consumer, lambda d: d["article"]["id"] == resent_id and d["article"]["ingested_at"] >= resent_at,
            workers, time.monotonic())
        verdict = resent["verdict"]
        print(f"  re-sent {resent_id}: verdict {verdict['kind']} (matched {verdict.get('matched_id')})",
              file=sys.stderr, flush=True)
        return {"dedup stop s": stop_seconds, "restart → Worker ready s": ready_seconds,
                "restart → probe verdict s": verdict_seconds,
                "restarted dedup peak RSS MiB": new.peak_rss_mib()}, verdict["kind"]
    finally:
        await consumer.stop()


async def measure(broker: EmbeddedBroker, wires: Path, expected: int, probe: Path, resend: Path, *, resent_id: str,
                  logs: Path) -> RunResult:
    """Pipeline, measurements and dedup restart on a running broker, under a fresh topic prefix; the run's figures."""
    settings = Settings.from_env({}, broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                 data_dir=logs / "data")
    await create_topics(settings)
    workers = [spawn(stage, settings, logs) for stage in STAGES]
    consumer = AIOKafkaConsumer(topic_name(settings, "tagged"), bootstrap_servers=settings.bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        # Reaching the tagged topic proves clean, dedup and tag joined; alert counting it proves alert did.
        await ingest_paths([write_jsonl(logs / "warmup.jsonl", [WARMUP])], settings, progress=False)
        await read_tagged(consumer, 1, workers, skip_warmup=False)
        alert = workers[STAGES.index("alert")]
        await wait_for_alert(alert, workers, 1)
        alert_before = alert.metrics()[1]
        print(f"  workers up; ingesting {wires.name} ({expected} clean articles)", file=sys.stderr, flush=True)

        started = time.monotonic()
        await ingest_paths([wires], settings, progress=False)
        await wait_for_tagged(consumer, expected, workers)
        await wait_for_alert(alert, workers, alert_before + expected)
        figures = {"pipeline s": time.monotonic() - started, **broker_figures(broker, settings.topic_prefix)}
        figures.update({f"{w.stage} peak RSS MiB": w.peak_rss_mib() for w in workers})

        recovery, resent_verdict = await restart_dedup(workers, settings, logs, probe, resend=resend,
                                                       resent_id=resent_id)
        figures.update(recovery)
    finally:
        await consumer.stop()
        stop(workers)
    return RunResult(figures, resent_verdict)


def one_run(wires: Path, expected: int, probe: Path, resend: Path, *, resent_id: str, logs: Path) -> RunResult:
    """One run on a fresh embedded broker, stopped after its workers."""
    logs.mkdir(parents=True)
    # Started outside the event loop: EmbeddedBroker.start polls the broker with asyncio.run of its own.
    with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
        return asyncio.run(measure(broker, wires, expected, probe, resend, resent_id=resent_id, logs=logs))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=None, help="first N wires by date (default: all)")
    options.add_argument("--runs", type=int, default=1)
    args = options.parse_args()
    raws = reuters_raw(sys.maxsize if args.articles is None else args.articles)  # exits when the data is absent
    expected = clean_count(raws)
    resent = resend_wire(raws)
    work = Path(tempfile.mkdtemp(prefix="wirewatch-state-recovery-bench-"))
    wires = write_jsonl(work / "reuters.jsonl", raws)
    resend = write_jsonl(work / "resend.jsonl", [resent])
    results = []
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs}: logs in {work / f'run{run + 1}'}", file=sys.stderr, flush=True)
        probe = write_jsonl(work / f"probe{run + 1}.jsonl", [probe_wire(raws[-1]["date"])])
        results.append(one_run(wires, expected, probe, resend, resent_id=resent["id"], logs=work / f"run{run + 1}"))

    settings = Settings.from_env({})
    print(f"State recovery, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}: Reuters-21578, first {len(raws)} wires "
          f"by date ({expected} clean articles), embedded broker (heap {settings.broker_heap_mb} MiB), 4 stage "
          f"workers, {os.cpu_count()} CPUs")
    print(f"  settings: {settings.partitions} partitions, producer batch {settings.producer_max_batch_bytes} bytes, "
          f"linger {settings.producer_linger_ms} ms, {settings.processing_guarantee}, commit every "
          f"{settings.commit_interval} s; logs and broker data in {work}")
    print(f"  {'':30}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(results))) + f"{'median':>10}")
    for name in results[0].figures:
        values = [result.figures[name] for result in results]
        print(f"  {name:30}" + "".join(f"{v:10.2f}" for v in values) + f"{statistics.median(values):10.2f}")
    verdicts = [result.resent_verdict for result in results]
    print(f"  {'re-sent ' + resent['id'] + ' verdict':30}" + "".join(f"{v:>10}" for v in verdicts))
    if any(verdict != "duplicate" for verdict in verdicts):
        raise SystemExit(f"recovery lost state: the re-sent wire {resent['id']} was not judged a duplicate "
                         f"({', '.join(verdicts)})")


if __name__ == "__main__":
    main()
