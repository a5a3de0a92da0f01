"""End-to-end latency from ingest to an alert delivered to a real webhook, under a steady replay of Reuters wires.

    .venv/bin/python -m benchmarks.alert_latency [--articles 300] [--rate 5] [--runs 3] [--fetch-wait-ms MS ...]

Each run starts an embedded broker, a webhook receiver in this process (aiohttp on loopback; it checks every
request's HMAC signature) and the four stage workers as their own processes (`pipeline_throughput.spawn`) on a fresh
topic prefix, with `BENCH_RULES` (five keyword and entity rules on what Reuters wires are about, channels topic and
webhook) as `WIREWATCH_RULES_FILE` and the receiver as `WIREWATCH_WEBHOOK_URL`. A warm-up wire goes through every
stage until its alert reaches the receiver. Then the first `--articles` wires by date are sent to the raw topic at
a steady `--rate` a second (0: as fast as the producer takes them), each stamped `ingested_at` as it is sent, while
the clean, deduped, tagged and alerts topics are read with a 10 ms fetch wait.

- webhook latency: per alert, its arrival at the receiver − its `ingested_at` (the webhook's JSON carries it);
  alerts topic latency: the same for its record on the alerts topic (read here, so up to about 10 ms late);
- worker's mean: `wirewatch_end_to_end_seconds` of the alert worker (sum / count over the replay), which observes
  when the alert worker has handed the alert to its producer;
- hop medians, over the alerts: ingest → clean topic → deduped → tagged → alerts topic → webhook;
- CPU ms/article: the workers' and the broker's CPU time over the replay, per wire sent.

`--fetch-wait-ms` gives the workers' `WIREWATCH_FETCH_WAIT_MS` (several values: a set of runs each, in one
report): the broker holds a fetch that finds no records for the whole wait, so each hop between stages waits for
the end of the consumer's current fetch. A rate above the pipeline's capacity (about 35 wires/s,
`benchmarks.pipeline_throughput`) measures queueing instead of latency.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from agents.ingest.producer import ingest_paths, kafka_producer
from agents.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from benchmarks.pipeline_throughput import STAGES, WARMUP, Worker, check_alive, clean_count, spawn, stop, wait_for_alert
from benchmarks.procfs import cpu_seconds
from benchmarks.reuters import reuters_raw
from streams.settings import Settings
from streams.topics import topic_name
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for, free_port

TIMEOUT = 600.0   # seconds for any one wait (workers join in about 5 s; tag loads spaCy first)
SETTLED = 3.0     # seconds without a new alert, once the alert worker has taken every article in, that end a run
WARMUP_RULE = "benchmark-warmup"
FOLLOWED = ("clean", "deduped", "tagged", "alerts")  # topics read for arrival times, in pipeline order
HOPS = ("ingest → clean", "clean → deduped", "deduped → tagged", "tagged → alerts topic", "alerts topic → webhook")
POINTS = (50, 90, 99)  # the percentiles reported


def rule(rule_id: str, when: dict[str, Any]) -> dict[str, Any]:
    """A rules-file entry that fires on new stories and new developments, delivered to the topic and the webhook."""
    return {"id": rule_id, "description": f"benchmark rule: {rule_id}", "when": when,
            "triggers": ["new_story", "new_development"], "channels": ["topic", "webhook"]}


# Together these raise 328 alerts on the first 300 wires (several rules fire on some wires, none on others).
BENCH_RULES = [
    rule(WARMUP_RULE, {"keywords": ["warm-up wire"]}),
    rule("energy", {"keywords": ["oil", "crude", "gas", "OPEC", "energy"]}),
    rule("banking", {"keywords": ["bank", "banks", "interest rate", "rates", "loan", "loans"]}),
    rule("trade", {"keywords": ["trade", "tariff", "tariffs", "exports", "imports", "deficit"]}),
    rule("earnings", {"keywords": ["profit", "net", "dividend", "shares", "earnings", "loss"]}),
    rule("economies", {"entities": [{"name": name, "label": "GPE"} for name in
                                    ("United States", "Japan", "West Germany", "United Kingdom", "France", "China",
                                     "Brazil", "Canada")]}),
]


def percentiles_ms(seconds: Sequence[float], points: Sequence[int] = POINTS) -> dict[str, float]:
    """`pN` for each of `points` and `max` of latencies given in seconds, in milliseconds (inclusive quantiles)."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive") if len(seconds) > 1 else [seconds[0]] * 99
    return {**{f"p{point}": 1000 * cuts[point - 1] for point in points}, "max": 1000 * max(seconds)}


class WebhookReceiver:
    """The far end of the alert webhook: refuses a bad signature, notes when each alert (by idempotency key) came."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: dict[str, tuple[float, dict[str, Any]]] = {}  # key → (arrival, the posted alert)
        self.repeats = 0
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()
        if not verify_signature(self.secret, request.headers.get(TIMESTAMP_HEADER, ""), body,
                                request.headers.get(SIGNATURE_HEADER, "")):
            self.refused += 1
            return web.Response(status=401)
        alert = orjson.loads(body)
        if alert["idempotency_key"] in self.received:  # at-least-once delivery: a repeat is allowed, not counted
            self.repeats += 1
        else:
            self.received[alert["idempotency_key"]] = (arrived, alert)
        return web.Response(status=204)

    def measured(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """The alerts received, without the warm-up's."""
        return {key: item for key, item in self.received.items() if item[1]["rule_id"] != WARMUP_RULE}


@asynccontextmanager
async def serving(receiver: WebhookReceiver) -> AsyncIterator[str]:
    """Serve `receiver` on 127.0.0.1 (a free port); yields the webhook URL."""
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


class TopicArrivals:
    """When each article first reached the clean, deduped and tagged topics, and each alert the alerts topic."""

    def __init__(self, settings: Settings) -> None:
        self.roles = {topic_name(settings, role): role for role in FOLLOWED}
        self.consumer = AIOKafkaConsumer(*self.roles, bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                         auto_offset_reset="earliest", enable_auto_commit=False)
        self.arrived: dict[str, dict[str, float]] = {role: {} for role in FOLLOWED}  # role → article id / alert key

    async def follow(self) -> None:
        """Read the topics until cancelled."""
        while True:
            for partition, records in (await self.consumer.getmany(timeout_ms=200)).items():
                now, role = time.time(), self.roles[partition.topic]
                for record in records:
                    self.arrived[role].setdefault(record_id(role, orjson.loads(record.value)), now)


def record_id(role: str, value: dict[str, Any]) -> str:
    """The article id of a clean, deduped or tagged record; the idempotency key of an alert."""
    if role == "alerts":
        return value["idempotency_key"]
    return value["id"] if role == "clean" else value["article"]["id"]


async def wait_until(done: Callable[[], bool], workers: list[Worker], what: str) -> None:
    """Return once `done()`; fail if a worker dies or TIMEOUT passes."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit(f"no {what} in {TIMEOUT:.0f} s; worker logs in {workers[0].log_path.parent}")
        await asyncio.sleep(0.1)


async def settle(receiver: WebhookReceiver, arrivals: TopicArrivals) -> None:
    """Return once neither the webhook nor the alerts topic has had a new alert for SETTLED seconds."""
    seen, quiet_since = (-1, -1), time.monotonic()
    while time.monotonic() - quiet_since < SETTLED:
        now_seen = (len(receiver.received), len(arrivals.arrived["alerts"]))
        if now_seen != seen:
            seen, quiet_since = now_seen, time.monotonic()
        await asyncio.sleep(0.1)


async def paced_ingest(settings: Settings, raws: Sequence[dict[str, Any]], rate: float) -> list[float]:
    """Send the wires to the raw topic, `rate` a second (0: at once), each stamped `ingested_at` when sent.

    Returns the send times. One key for all, as one `wirewatch ingest` run: dedup sees the wires in this order.
    """
    producer = kafka_producer(settings)
    await producer.start()
    raw_topic, key = topic_name(settings, "raw"), f"ingest-{uuid.uuid4().hex[:12]}".encode()
    sent: list[float] = []
    deliveries = []
    try:
        started = time.time()
        for number, raw in enumerate(raws):
            if rate and (delay := started + number / rate - time.time()) > 0:
                await asyncio.sleep(delay)
            sent.append(time.time())
            deliveries.append(await producer.send(raw_topic, orjson.dumps({**raw, "ingested_at": sent[-1]}), key=key))
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    return sent


def end_to_end_totals(alert: Worker) -> tuple[float, float]:
    """(sum, count) of the alert worker's `wirewatch_end_to_end_seconds` histogram so far."""
    totals = {sample.name: sample.value for sample in alert.samples()
              if sample.name in ("wirewatch_end_to_end_seconds_sum", "wirewatch_end_to_end_seconds_count")}
    return totals.get("wirewatch_end_to_end_seconds_sum", 0.0), totals.get("wirewatch_end_to_end_seconds_count", 0.0)


def figures(receiver: WebhookReceiver, arrivals: TopicArrivals, sent: list[float], e2e: tuple[float, float],
            cpu: float) -> dict[str, float]:
    """One run's rows from what the receiver and the topic reader saw."""
    delivered = receiver.measured()
    on_topic = arrivals.arrived["alerts"]
    webhook = [at - alert["ingested_at"] for at, alert in delivered.values()]
    topic = [on_topic[key] - alert["ingested_at"] for key, (_, alert) in delivered.items() if key in on_topic]
    tagged = [at for at in arrivals.arrived["tagged"].values() if at >= sent[0]]
    row = {"alerts received by the webhook": len(delivered), "alerts on the alerts topic": len(topic),
           "ingest articles/s": (len(sent) - 1) / (sent[-1] - sent[0]),
           "pipeline articles/s": len(tagged) / (max(tagged) - sent[0])}
    row |= {f"webhook {name} ms": value for name, value in percentiles_ms(webhook).items()}
    row |= {f"alerts topic {name} ms": value for name, value in percentiles_ms(topic).items()}
    row["alerts topic mean ms"] = 1000 * statistics.fmean(topic)
    row["worker's e2e histogram mean ms"] = 1000 * e2e[0] / max(e2e[1], 1)
    steps: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for key, (at, alert) in delivered.items():
        times = [alert["ingested_at"], *(arrivals.arrived[role].get(alert["article_id"]) for role in FOLLOWED[:3]),
                 on_topic.get(key), at]
        if None not in times:
            for hop, (start, end) in zip(HOPS, pairwise(times), strict=True):
                steps[hop].append(end - start)
    row |= {f"median {hop} ms": 1000 * statistics.median(values) for hop, values in steps.items() if values}
    row["CPU ms/article (workers + broker)"] = 1000 * cpu / len(sent)
    row["webhook repeats (at-least-once)"] = receiver.repeats
    row["webhook refused (bad signature)"] = receiver.refused
    return row


async def one_run(raws: list[dict[str, Any]], expected: int, rules_file: Path, rate: float, *,
                  fetch_wait_ms: int, logs: Path) -> dict[str, float]:
    """Start everything, warm up, replay at `rate`, wait until every alert is in; the run's figures by row name."""
    logs.mkdir(parents=True)
    receiver = WebhookReceiver(secrets.token_hex(16))
    async with serving(receiver) as url:
        with broker_for(Settings.from_env({}), logs / "kafka", log_path=logs / "broker.log") as broker:
            settings = Settings.from_env({}, broker=broker.url, topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
                                         data_dir=logs / "data", rules_file=rules_file, webhook_url=url,
                                         webhook_secret=receiver.secret, fetch_wait_ms=fetch_wait_ms)
            await create_topics(settings)
            workers = [spawn(stage, settings, logs) for stage in STAGES]
            arrivals = TopicArrivals(settings)
            await arrivals.consumer.start()
            following = asyncio.create_task(arrivals.follow())
            try:
                warmup = logs / "warmup.jsonl"
                warmup.write_bytes(orjson.dumps(WARMUP) + b"\n")
                await ingest_paths([warmup], settings)
                # Its alert at the webhook proves every stage joined its group and the sink's connection is open.
                await wait_until(lambda: len(receiver.received) > 0, workers, "warm-up alert at the webhook")
                alert = workers[STAGES.index("alert")]
                articles_in, e2e_before = alert.metrics()[1], end_to_end_totals(alert)
                pids = [w.process.pid for w in workers] + ([broker.pid] if broker.pid else [])
                cpu_before = sum(map(cpu_seconds, pids))
                sent = await paced_ingest(settings, raws, rate)
                await wait_for_alert(alert, workers, articles_in + expected)
                await settle(receiver, arrivals)
                cpu = sum(map(cpu_seconds, pids)) - cpu_before
                e2e_after = end_to_end_totals(alert)
                e2e = (e2e_after[0] - e2e_before[0], e2e_after[1] - e2e_before[1])
            finally:
                following.cancel()
                await arrivals.consumer.stop()
                stop(workers)
    return figures(receiver, arrivals, sent, e2e, cpu)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--articles", type=int, default=300)
    options.add_argument("--rate", type=float, default=5.0, help="wires sent per second; 0 sends them at once")
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--fetch-wait-ms", type=int, nargs="+", default=[Settings.from_env().fetch_wait_ms],
                         help="the workers' WIREWATCH_FETCH_WAIT_MS; several values are measured one after another")
    args = options.parse_args()
    raws = reuters_raw(args.articles)  # exits with a clear message when the data set is absent
    expected = clean_count(raws)
    work = Path(tempfile.mkdtemp(prefix="wirewatch-alert-latency-bench-"))
    rules_file = work / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"rules": BENCH_RULES}, sort_keys=False))
    for wait in args.fetch_wait_ms:
        rows = [asyncio.run(one_run(raws, expected, rules_file, args.rate, fetch_wait_ms=wait,
                                    logs=work / f"wait{wait}-run{i + 1}"))
                for i in range(args.runs)]
        print(f"Reuters-21578, first {len(raws)} wires by date ({expected} clean articles) at {args.rate:g}/s, "
              f"{len(BENCH_RULES) - 1} rules to topic + webhook, embedded broker, 4 stage workers, "
              f"WIREWATCH_FETCH_WAIT_MS={wait}, {os.cpu_count()} CPUs; logs in {work}")
        print(f"  {'':36}" + "".join(f"{'run ' + str(i + 1):>9}" for i in range(len(rows))) + f"{'median':>9}")
        for name in rows[0]:
            values = [row.get(name, float("nan")) for row in rows]
            print(f"  {name:36}" + "".join(f"{v:9.1f}" for v in values) + f"{statistics.median(values):9.1f}")


if __name__ == "__main__":
    main()
