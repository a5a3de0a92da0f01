"""The cost of the consumer-lag metrics on a stage's throughput: the clean stage working through a backlog of Reuters
wires with the lag read at WIREWATCH_LAG_INTERVAL's default and off (0), alternating in the same run; medians.

    .venv/bin/python -m benchmarks.lag_overhead [--articles 5000] [--runs 3] [--intervals 5 0] [--idle 20]

One embedded broker for the whole run. Per run and interval (the intervals' order alternates from run to run):
topics under a fresh prefix, the raw topic filled with the first `--articles` Reuters wires (spread over its
partitions), then one `wirewatch worker clean` with that interval. Its `/metrics` is polled every 50 ms (the same
for every interval): the window runs from the first wire it counts in to the last, and gives wires/s and the
worker's CPU ms per wire (/proc) over it. The worker is behind all along, so every lag read finds records waiting on
each partition and fetches one for its timestamp: the probe's most expensive case. Then the worker's CPU while idle
(caught up) over `--idle` seconds. Last, in this process, the wall and CPU time of one lag read (`LagReader.lags`)
of the raw topic's partitions, all with records waiting, median of 20: what each interval costs a worker.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import TopicPartition

from agents.ingest.producer import kafka_producer
from benchmarks.pipeline_throughput import Worker, check_alive, print_table, spawn, stop
from benchmarks.procfs import cpu_seconds
from benchmarks.reuters import reuters_raw
from streams.lag import PartitionOffsets
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for
from wirewatch.lag import LagReader

TIMEOUT = 600.0  # seconds for one run's backlog
POLL_SECONDS = 0.05


async def fill_raw(settings: Settings, wires: list[bytes]) -> None:
    """Send the wires to the raw topic, round-robin over its partitions, and wait until the broker has them all."""
    producer = kafka_producer(settings)
    await producer.start()
    try:
        topic = topic_name(settings, "raw")
        for number, wire in enumerate(wires):
            await producer.send(topic, wire, partition=number % settings.partitions)
        await producer.flush()
    finally:
        await producer.stop()


def wires_in(worker: Worker) -> float:
    """Wires the clean worker has counted in so far (0 before its web server answers)."""
    try:
        return worker.metrics()[1]
    except OSError:
        return 0.0


async def wait_counted(worker: Worker, at_least: float, deadline: float) -> float:
    """Poll the worker's count of wires in until it reaches `at_least`; returns the count."""
    while (count := wires_in(worker)) < at_least:
        check_alive([worker])
        if time.monotonic() > deadline:
            raise SystemExit(f"the clean worker counted {count:.0f}/{at_least:.0f} wires in {TIMEOUT:.0f} s; see "
                             f"{worker.log_path}")
        await asyncio.sleep(POLL_SECONDS)
    return count


async def one_run(broker_url: str, wires: list[bytes], interval: float, idle: float,
                  logs: Path) -> dict[str, float]:
    """The clean stage through the backlog with lag interval `interval`: wires/s, CPU ms per wire, idle CPU."""
    logs.mkdir(parents=True)
    settings = Settings.from_env(broker=broker_url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                 data_dir=logs / "data", lag_interval=interval)
    await create_topics(settings)
    await fill_raw(settings, wires)
    worker = spawn("clean", settings, logs)
    try:
        deadline = time.monotonic() + TIMEOUT
        first = await wait_counted(worker, 1, deadline)
        started, cpu_started = time.perf_counter(), cpu_seconds(worker.process.pid)
        last = await wait_counted(worker, len(wires), deadline)
        seconds, cpu = time.perf_counter() - started, cpu_seconds(worker.process.pid) - cpu_started
        idle_started = cpu_seconds(worker.process.pid)
        await asyncio.sleep(idle)
        idle_cpu = cpu_seconds(worker.process.pid) - idle_started
    finally:
        stop([worker])
    return {"wires/s": (last - first) / seconds, "clean CPU ms/wire": 1000 * cpu / (last - first),
            "idle CPU %": 100 * idle_cpu / idle}


async def one_read(broker_url: str, wires: list[bytes], reads: int = 20) -> dict[str, float]:
    """Median wall and CPU ms of one lag read of the raw topic's partitions, each with records waiting."""
    settings = Settings.from_env(broker=broker_url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}")
    await create_topics(settings)
    await fill_raw(settings, wires)
    partitions = [TopicPartition(topic_name(settings, "raw"), number) for number in range(settings.partitions)]
    async with LagReader(settings) as reader:
        ends = await reader.consumer.end_offsets(partitions)
        starts = await reader.consumer.beginning_offsets(partitions)
        offsets = [PartitionOffsets(tp.topic, tp.partition, starts[tp], ends[tp], None) for tp in partitions]
        walls, cpus = [], []
        for _ in range(reads):
            wall, cpu = time.perf_counter(), time.process_time()
            lags = await reader.lags(offsets)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            assert all(lag.records > 0 for lag in lags), lags
    return {"wall ms": 1000 * statistics.median(walls), "CPU ms": 1000 * statistics.median(cpus)}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=5000)
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--intervals", type=float, nargs="+",
                         default=[Settings.from_env().lag_interval, 0.0], help="WIREWATCH_LAG_INTERVAL values")
    options.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured after the backlog")
    args = options.parse_args()
    wires = [orjson.dumps(wire) for wire in reuters_raw(args.articles)]  # a clear message when the data is absent
    work = Path(tempfile.mkdtemp(prefix="wirewatch-lag-bench-"))
    rows: dict[float, list[dict[str, float]]] = {interval: [] for interval in args.intervals}
    with broker_for(Settings.from_env({}), work / "kafka", log_path=work / "broker.log") as broker:
        for run in range(args.runs):
            for interval in args.intervals if run % 2 == 0 else args.intervals[::-1]:
                rows[interval].append(asyncio.run(one_run(broker.url, wires, interval, args.idle,
                                                          work / f"run{run + 1}-interval{interval:g}")))
        read = asyncio.run(one_read(broker.url, wires))
    results = {index: {name: statistics.median(row[name] for row in rows[interval]) for name in rows[interval][0]}
               for index, interval in enumerate(args.intervals)}
    print(f"Reuters-21578, first {len(wires)} wires as a backlog on the raw topic, one clean worker, embedded Apache "
          f"Kafka, {os.cpu_count()} CPUs, medians of {args.runs} runs (logs in {work})")
    print_table(results, lambda index: f"interval {args.intervals[index]:g} s", width=16, digits=2)
    for interval in args.intervals:
        print(f"  interval {interval:g} s, each run: "
              + "; ".join(", ".join(f"{value:.2f}" for value in row.values()) for row in rows[interval]))
    print(f"  one lag read of {Settings.from_env().partitions} partitions with records waiting, median of 20: "
          f"{read['wall ms']:.1f} ms wall, {read['CPU ms']:.1f} ms CPU")


if __name__ == "__main__":
    main()
