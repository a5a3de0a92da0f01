"""The dedup stage through the embedded broker: articles/s, CPU per article and memory, index holding N articles.

    .venv/bin/python -m benchmarks.dedup_stage [--indexed 100000] [--batch 1000] [--batches 3] [--workers 1 2]

For each worker count: an embedded broker, topics under a fresh prefix, that many `wirewatch worker dedup`
processes. The index is pre-filled by producing `--indexed` synthetic articles (`benchmarks.dedup_speed` makes them
from real Reuters sentences, spread over the 6 days before the stream) to the clean topic and waiting until the
deduped topic has them all. Then `--batches` batches of `--batch` real Reuters wires (in publish order, retimed
into the day after the synthetic ones) are produced one after another, each as fast as the producer can, and the
deduped topic is read until the batch came out. Figures per batch: articles/s from the first produce to the last
verdict, CPU seconds per article of all dedup workers together (from /proc: what "per core" means) and of each, and
at the end the peak RSS of each worker and of the broker. The medians over the batches are printed. The busiest
worker holds the router and the decider, which read one partition each: one core's worth of its CPU per article is
the ceiling of the stage (and so of the pipeline) whatever the number of dedup workers.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.dedup_speed import FILL_SPAN, STREAM_SPAN, retimed, synthetic_articles
from benchmarks.pipeline_throughput import Worker, check_alive, print_table, spawn_replicas, stop
from benchmarks.procfs import cpu_seconds, peak_rss_mib
from benchmarks.reuters_reference import clean_reuters, published_time
from streams.records import CleanArticle
from streams.settings import Settings
from streams.topics import DEDUP_SHARD_KEY, topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for

TIMEOUT = 3600.0  # seconds for any one wait: the pre-fill of 100k articles takes several minutes
async def produce(producer: AIOKafkaProducer, topic: str, articles: Sequence[CleanArticle]) -> None:
    """Send the articles to the clean topic with the stage's key, waiting for every delivery."""
    key = DEDUP_SHARD_KEY.encode()
    deliveries = [await producer.send(topic, key=key, value=article.dumps()) for article in articles]
    await asyncio.gather(*deliveries)


async def drain(consumer: AIOKafkaConsumer, count: int, workers: list[Worker]) -> float:
    """Read `count` deduped articles; returns when the last arrived (time.perf_counter)."""
    seen, last, deadline = 0, 0.0, time.monotonic() + TIMEOUT
    while seen < count:
        check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit(f"only {seen}/{count} deduped articles in {TIMEOUT:.0f} s; logs in "
                             f"{workers[0].log_path.parent}")
        for records in (await consumer.getmany(timeout_ms=200)).values():
            seen += len(records)
            last = time.perf_counter()
    return last


async def one_setup(workers_count: int, fill: list[CleanArticle], batches: list[list[CleanArticle]],
                    logs: Path) -> dict[str, float]:
    """Pre-fill, then time each batch; the medians of the batch figures and the peak memory."""
    logs.mkdir(parents=True)
    with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
        # This process's WIREWATCH_* settings (e.g. the producer batch size), with its own broker and topics.
        settings = Settings.from_env(broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                     data_dir=logs / "data")
        await create_topics(settings)
        workers = spawn_replicas("dedup", workers_count, settings, logs)
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
        consumer = AIOKafkaConsumer(topic_name(settings, "deduped"), bootstrap_servers=settings.bootstrap_servers,
                                    group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await producer.start()
        await consumer.start()
        clean_topic = topic_name(settings, "clean")
        try:
            started = time.perf_counter()
            await produce(producer, clean_topic, fill)
            fill_seconds = await drain(consumer, len(fill), workers) - started
            rows = []
            for batch in batches:
                cpu_before = [cpu_seconds(w.process.pid) for w in workers]
                started = time.perf_counter()
                await produce(producer, clean_topic, batch)
                last = await drain(consumer, len(batch), workers)
                cpu = [cpu_seconds(w.process.pid) - before for w, before in zip(workers, cpu_before, strict=True)]
                rows.append({"articles/s": len(batch) / (last - started),
                             "CPU ms/article": 1000 * sum(cpu) / len(batch),
                             **{f"worker {n + 1} CPU ms/article": 1000 * c / len(batch) for n, c in enumerate(cpu)}})
            memory = {f"worker {n + 1} peak RSS MiB": peak_rss_mib(w.process.pid) for n, w in enumerate(workers)}
            memory["broker peak RSS MiB"] = peak_rss_mib(broker.pid) if broker.pid else float("nan")
        finally:
            await consumer.stop()
            await producer.stop()
            stop(workers)
    result = {name: statistics.median(row[name] for row in rows) for name in rows[0]}
    result["articles/s per core"] = 1000 / result["CPU ms/article"]
    # Router and decider each read one partition: the busiest worker holds them and bounds the stage at this rate.
    result["ceiling articles/s"] = 1000 / max(
        result[f"worker {n + 1} CPU ms/article"] for n in range(workers_count))
    result["pre-fill articles/s"] = len(fill) / fill_seconds
    return {**result, **memory}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--indexed", type=int, default=100_000)
    options.add_argument("--batch", type=int, default=1000)
    options.add_argument("--batches", type=int, default=3)
    options.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    options.add_argument("--seed", type=int, default=1987)
    args = options.parse_args()
    articles = clean_reuters(Settings.from_env())
    stream_length = args.batch * args.batches
    stream, models = articles[:stream_length], articles[stream_length:]
    start = published_time(stream[0])
    fill = synthetic_articles(models, args.indexed, args.seed, start - FILL_SPAN, FILL_SPAN)
    stream = retimed(stream, start, STREAM_SPAN)
    batches = [stream[i:i + args.batch] for i in range(0, stream_length, args.batch)]
    work = Path(tempfile.mkdtemp(prefix="wirewatch-dedup-stage-bench-"))
    results = {n: asyncio.run(one_setup(n, fill, batches, work / f"workers{n}")) for n in args.workers}
    print(f"dedup stage through the embedded broker: index pre-filled with {args.indexed} synthetic articles, then "
          f"{args.batches} batches of {args.batch} real Reuters wires (medians over the batches); "
          f"{os.cpu_count()} CPUs; logs in {work}")
    print_table(results, lambda n: f"{n} worker" + "s" * (n > 1), width=12, digits=1, name_width=26)


if __name__ == "__main__":
    main()
