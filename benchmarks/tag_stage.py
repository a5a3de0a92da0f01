"""The tag stage through the embedded broker against plain `nlp.pipe` in the same run, for 1 and 2 processes.

    .venv/bin/python -m benchmarks.tag_stage [--articles 3000] [--workers 1 2] [--runs 3] [--paced 600]

The stream: the first `--articles` Reuters wires in publish order, each with the verdict of a dedup-core replay from
an empty index, as `DedupedArticle` records (natural duplicates included); the next wires serve as warm-up. For each
worker count N, N reference processes load `load_ner(settings.spacy_model)` and warm it up. Each stage pass gets its
own embedded broker, topics and N fresh `wirewatch worker tag` processes (so no worker remembers paragraphs of the
stream), sent warm-up rounds until every one has tagged some: model loading and group joins are not timed. Per run,
the two sides of a ratio run back to back, which goes first alternating:

- nlp.pipe all / non-dup: the N reference processes each run `plain_pipe` (batch `settings.tag_batch_size`) over every
  N-th `full_text` of the whole stream / of the stream without its duplicates; from the start until all are done.
- stage all / non-dup: the same records are produced to the deduped topic (key story_id, as dedup sends them) as fast
  as the producer can while the tagged topic is read; from the first produce to the last tagged record.
- words/s: the same in words of `full_text`; CPU ms/article: CPU time of the reference processes / of the tag workers
  (not the broker's, nor this process's) during the pass, per article.
- ratio non-dup: stage / nlp.pipe on the stream without duplicates (issue 5 asks >= 0.9); ratio all: stage on the
  whole stream / nlp.pipe on the whole stream (issue 5 asks > 1.0). Medians of the runs' ratios.
- latency p50/p99: the first `--paced` records of the whole stream produced at a steady half of this run's
  whole-stream stage rate; per article, its produce → the arrival of its tagged record, matched by article id.
- peak RSS (VmHWM): the highest over the runs of each tag worker, reference process and broker.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import statistics
import tempfile
import time
import urllib.error
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

import agents.tag as tag_package
from benchmarks.nlp_reference import ReferencePool
from benchmarks.pipeline_throughput import Worker, check_alive, spawn_replicas, stop
from benchmarks.procfs import cpu_seconds, peak_rss_mib
from benchmarks.reuters import reuters_raw
from benchmarks.reuters_dedup import judge_all
from benchmarks.reuters_reference import clean_reuters
from streams.records import CleanArticle, DedupedArticle, DedupVerdict
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for

TIMEOUT = 900.0      # seconds for any one wait: one whole-stream pass on one loaded core takes a minute or two
WARMUP_ARTICLES = 64  # per warm-up round: enough story keys to reach every partition, hence every worker
PACED_SHARE = 0.5    # the latency phase produces at this share of the measured whole-stream stage throughput
SIDES = ("nlp.pipe", "stage")
RATIOS = ("ratio non-dup: stage/nlp.pipe (>= 0.9)", "ratio all: stage/nlp.pipe (> 1.0)")
Encoded = list[tuple[str, bytes, bytes]]  # (article id, key, value) ready to produce
Times = dict[str, float]  # perf_counter seconds by article id


def stream_records(settings: Settings, count: int) -> list[DedupedArticle]:
    """The first `count` Reuters articles in publish order, each with its verdict from a dedup-core replay."""
    articles = clean_reuters(settings, reuters_raw(count))[:count]
    return [DedupedArticle(article=a, verdict=v) for a, v in zip(articles, judge_all(articles, settings), strict=True)]


def encoded(items: Sequence[DedupedArticle]) -> Encoded:
    """The records as the dedup agent sends them, serialised before any timing starts."""
    return [(item.article.id, item.verdict.story_id.encode(), item.dumps()) for item in items]


def warmup_records(spare: Sequence[DedupedArticle], round_: int) -> Encoded:
    """Articles from outside the stream under fresh ids and stories (verdict new), so they go through the model."""
    fresh = [(f"warmup{round_}-{item.article.id}", item.article) for item in spare]
    return encoded([DedupedArticle(article=CleanArticle(**{**article.asdict(), "id": new_id}),
                                   verdict=DedupVerdict(kind="new", story_id=new_id)) for new_id, article in fresh])


def tag_version() -> str:
    """A short hash of agents/tag/*.py: the tag stage is being changed, so say which state was measured."""
    digest = hashlib.sha256()
    for source in sorted(Path(tag_package.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:12]


def tagged_count(worker: Worker) -> float:
    """Articles the worker's tag agent took in so far (0 while its web server is not up)."""
    try:
        return worker.metrics()[1]
    except (urllib.error.URLError, OSError):
        return 0.0


@dataclass
class TagStage:
    """Running tag workers seen from outside: a producer into the deduped topic, a reader of the tagged topic."""

    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    deduped: str
    workers: list[Worker]

    async def arrivals(self, ids: set[str]) -> Times:
        """When each of `ids` came out tagged; other records (warm-up rounds, repeats) are skipped."""
        arrived: Times = {}
        deadline = time.monotonic() + TIMEOUT
        while len(arrived) < len(ids):
            check_alive(self.workers)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(arrived)}/{len(ids)} tagged articles in {TIMEOUT:.0f} s; logs in "
                                 f"{self.workers[0].log_path.parent.parent}")
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for record in records:
                    article_id = orjson.loads(record.value)["article"]["id"]
                    if article_id in ids:
                        arrived.setdefault(article_id, now)
        return arrived

    async def pass_through(self, records: Encoded, rate: float | None = None) -> tuple[Times, Times]:
        """Send and tagged-arrival time of each article id; produced as fast as can be, or `rate` a second."""
        expected = {article_id for article_id, _, _ in records}
        reading = asyncio.create_task(self.arrivals(expected))
        sent: Times = {}
        deliveries = []
        started = time.perf_counter()
        for number, (article_id, key, value) in enumerate(records):
            if rate and (delay := started + number / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            sent[article_id] = time.perf_counter()
            deliveries.append(await self.producer.send(self.deduped, key=key, value=value))
        await asyncio.gather(*deliveries)
        return sent, await reading

    async def warm_up(self, spare: Sequence[DedupedArticle]) -> None:
        """Send warm-up rounds until every worker has tagged some: all models loaded, all workers in the group."""
        deadline = time.monotonic() + TIMEOUT
        for round_ in itertools.count():
            await self.pass_through(warmup_records(spare, round_))
            if all(tagged_count(worker) > 0 for worker in self.workers):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"not every tag worker took part in {TIMEOUT:.0f} s of warm-up")


async def stage_pass(count: int, spare: Sequence[DedupedArticle], records: Encoded, logs: Path,
                     rate: float | None = None) -> tuple[Times, Times, float, dict[str, float]]:
    """`records` through `count` fresh, warm tag workers on a fresh broker: times, workers' CPU s, peak RSS."""
    logs.mkdir(parents=True)
    with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
        settings = Settings.from_env(broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                     data_dir=logs / "data")
        await create_topics(settings)
        workers = spawn_replicas("tag", count, settings, logs)
        stage = TagStage(AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5),
                         AIOKafkaConsumer(topic_name(settings, "tagged"), bootstrap_servers=settings.bootstrap_servers,
                                          group_id=None, auto_offset_reset="earliest", enable_auto_commit=False),
                         topic_name(settings, "deduped"), workers)
        await stage.producer.start()
        await stage.consumer.start()
        try:
            await stage.warm_up(spare)
            cpu = sum(cpu_seconds(w.process.pid) for w in workers)
            sent, arrived = await stage.pass_through(records, rate)
            cpu = sum(cpu_seconds(w.process.pid) for w in workers) - cpu
            memory = {f"worker {n + 1} peak RSS MiB": w.peak_rss_mib() for n, w in enumerate(workers)}
            memory["broker peak RSS MiB"] = peak_rss_mib(broker.pid) if broker.pid else float("nan")
        finally:
            await stage.consumer.stop()
            await stage.producer.stop()
            stop(workers)
    return sent, arrived, cpu, memory


async def one_run(pool: ReferencePool, streams: dict[str, list[DedupedArticle]], spare: Sequence[DedupedArticle],
                  paced: int, *, run: int, logs: Path) -> dict[str, float]:
    """Both sides on both streams, then the paced phase: one run's figures by row name, peak memory included."""
    count, records = len(pool.processes), {name: encoded(items) for name, items in streams.items()}
    rate: dict[tuple[str, str], float] = {}
    cpu: dict[tuple[str, str], float] = {}
    memory: list[dict[str, float]] = []
    for number, name in enumerate(records):
        for side in SIDES if (run + number) % 2 == 0 else SIDES[::-1]:
            if side == "nlp.pipe":
                seconds, cpu[side, name] = await asyncio.to_thread(pool.seconds, name)
                rate[side, name] = len(records[name]) / seconds
            else:
                sent, arrived, cpu[side, name], peaks = await stage_pass(count, spare, records[name],
                                                                         logs / f"run{run + 1}-{name}")
                rate[side, name] = len(sent) / (max(arrived.values()) - min(sent.values()))
                memory.append(peaks)
    row = {}
    for name, side in itertools.product(records, SIDES):
        words = sum(len(i.article.full_text.split()) for i in streams[name]) / len(streams[name])
        row[f"{side} {name} articles/s"] = rate[side, name]
        row[f"{side} {name} words/s"] = rate[side, name] * words
        row[f"{side} {name} CPU ms/article"] = 1000 * cpu[side, name] / len(records[name])
    row[RATIOS[0]] = rate["stage", "non-dup"] / rate["nlp.pipe", "non-dup"]
    row[RATIOS[1]] = rate["stage", "all"] / rate["nlp.pipe", "all"]
    row["paced articles/s"] = PACED_SHARE * rate["stage", "all"]
    sent, arrived, _, peaks = await stage_pass(count, spare, records["all"][:paced], logs / f"run{run + 1}-paced",
                                               row["paced articles/s"])
    latencies = [arrived[article_id] - at for article_id, at in sent.items()]
    row["latency p50 ms"] = 1000 * statistics.median(latencies)
    row["latency p99 ms"] = 1000 * statistics.quantiles(latencies, n=100, method="inclusive")[98]
    row |= {name: max(m[name] for m in [*memory, peaks]) for name in peaks}
    return row | {f"nlp.pipe process {n + 1} peak RSS MiB": peak for n, peak in enumerate(pool.peaks)}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=3000)
    options.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--paced", type=int, default=600, help="articles in the latency phase")
    args = options.parse_args()
    settings, version = Settings.from_env(), tag_version()
    records = stream_records(settings, args.articles + WARMUP_ARTICLES)
    stream, spare = records[:args.articles], records[args.articles:]
    streams = {"all": stream, "non-dup": [i for i in stream if i.verdict.kind != "duplicate"]}
    texts = {name: [i.article.full_text for i in items] for name, items in streams.items()}
    work = Path(tempfile.mkdtemp(prefix="wirewatch-tag-stage-bench-"))
    results = {}
    for count in args.workers:
        with ReferencePool(count, settings, texts, [i.article.full_text for i in spare]) as pool:
            rows = [asyncio.run(one_run(pool, streams, spare, args.paced, run=run, logs=work / f"workers{count}"))
                    for run in range(args.runs)]
        results[count] = {name: (max if name.endswith("MiB") else statistics.median)(row[name] for row in rows)
                          for name in rows[0]}
    kinds = Counter(i.verdict.kind for i in stream)
    changed = "" if tag_version() == version else f" → {tag_version()} (CHANGED DURING THE RUN)"
    print(f"tag stage through the embedded broker vs plain nlp.pipe, same run: first {len(stream)} Reuters wires "
          f"({kinds['duplicate']} duplicates; verdicts {dict(sorted(kinds.items()))}); model {settings.spacy_model}, "
          f"batch {settings.tag_batch_size}; tag sources {version}{changed}; medians of {args.runs} runs; latency "
          f"over {min(args.paced, len(stream))} articles at {PACED_SHARE:g}× the stage rate; {os.cpu_count()} CPUs; "
          f"logs in {work}")
    widest = sorted(results.values(), key=len, reverse=True)  # the most workers first: their rows in order
    names = list(dict.fromkeys(name for result in widest for name in result))
    print(f"  {'':40}" + "".join(f"{str(n) + ' worker' + ('s' if n > 1 else ''):>12}" for n in results))
    for name in names:
        digits = 2 if name.startswith("ratio") else 1
        print(f"  {name:40}" + "".join(f"{result.get(name, float('nan')):12.{digits}f}" for result in results.values()))


if __name__ == "__main__":
    main()
