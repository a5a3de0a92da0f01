"""`wirewatch run`: the embedded default — broker, topics, one process per stage, the seeds, a live feed."""
from __future__ import annotations

import asyncio
import codecs
import dataclasses
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server

from agents.admin import create_topics
from agents.embedded_broker import EmbeddedBroker, _die_with_parent
from agents.ingest.producer import ingest_paths
from agents.stages import STAGE_MODULES
from streams.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)


@dataclass
class WorkerProcess:
    """One stage's worker process and where its metrics are served."""

    stage: str
    process: subprocess.Popen[bytes]
    metrics_url: str


def spawn_worker(stage: str, settings: Settings, web_port: int, log_dir: Path,
                 stdout: int | None = None) -> WorkerProcess:
    """Start `wirewatch worker STAGE` as a child process with `settings` passed through the environment."""
    environ = dict(os.environ)
    environ.update({
        f"{ENV_PREFIX}BROKER": settings.broker,
        f"{ENV_PREFIX}TOPIC_PREFIX": settings.topic_prefix,
        f"{ENV_PREFIX}PARTITIONS": str(settings.partitions),
        f"{ENV_PREFIX}WEB_PORT": str(web_port),
        f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir),
    })
    with open(log_dir / f"{stage}.log", "ab") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "worker", stage],
            stdout=stdout if stdout is not None else log_file, stderr=log_file, stdin=subprocess.DEVNULL,
            env=environ, start_new_session=True, preexec_fn=_die_with_parent)
    return WorkerProcess(stage, process, f"http://{settings.web_host}:{web_port}/metrics")


def stop_workers(workers: list[WorkerProcess], timeout: float = 20.0) -> None:
    """SIGTERM every worker (Faust shuts down cleanly on it), SIGKILL whoever is still there after `timeout`."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for worker in workers:
        try:
            worker.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def run_embedded(paths: list[Path], settings: Settings, *, exit_after_idle: float = 0.0,
                 timeout: float = 0.0) -> int:
    """Run everything on an embedded broker until Ctrl-C (or `exit_after_idle` s after the feed goes quiet)."""
    started = time.monotonic()
    run_dir = settings.data_dir / "run" / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_path=run_dir / "broker.log").start()
    settings = dataclasses.replace(settings, broker=broker.url)
    workers: list[WorkerProcess] = []
    try:
        asyncio.run(create_topics(settings))
        start_http_server(settings.web_port, addr=settings.web_host)
        for offset, stage in enumerate(STAGE_MODULES, start=1):
            feed_pipe = subprocess.PIPE if stage == "feed" else None
            workers.append(spawn_worker(stage, settings, settings.web_port + offset, run_dir, feed_pipe))
        _say(f"embedded broker {broker.url}; worker logs in {run_dir}")
        _say("metrics: " + "  ".join([f"ingest http://{settings.web_host}:{settings.web_port}/metrics"]
                                     + [f"{w.stage} {w.metrics_url}" for w in workers]))
        stories = next(w for w in workers if w.stage == "stories").metrics_url.removesuffix("/metrics")
        _say(f"story state: {stories}/stories?since=2019-01-01T00:00:00Z and {stories}/stories/ID")
        alerts = next(w for w in workers if w.stage == "alert").metrics_url.removesuffix("/metrics")
        _say(f"alert stream (server-sent events): {alerts}/alerts/stream")
        report = asyncio.run(ingest_paths(paths, settings))
        _say(f"ingested {report.sent} articles from {', '.join(map(str, paths))}"
             + (f" ({report.dead_lettered} to the dead-letter topic)" if report.dead_lettered else "")
             + "; Ctrl-C stops")
        feed = next(w for w in workers if w.stage == "feed")
        return _relay_feed(feed, workers, exit_after_idle, timeout, started)
    except KeyboardInterrupt:
        return 0
    finally:
        _say("stopping workers and broker…")
        stop_workers(workers)
        broker.stop()
        _say(f"stopped after {time.monotonic() - started:.1f} s")


def _relay_feed(feed: WorkerProcess, workers: list[WorkerProcess], exit_after_idle: float, timeout: float,
                started: float) -> int:
    """Print the feed worker's lines as they come; return when told to, or 1 if a worker dies."""
    assert feed.process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(feed.process.stdout, selectors.EVENT_READ)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    last_line = 0.0
    while True:
        for _ in selector.select(timeout=0.5):
            # Everything the pipe holds: readline() would keep the rest of a multi-line block in Python's buffer,
            # where select() does not see it, until the feed printed something else.
            chunk = os.read(feed.process.stdout.fileno(), 65536)
            if chunk:
                sys.stdout.write(decoder.decode(chunk))
                sys.stdout.flush()
                last_line = time.monotonic()
        dead = [w for w in workers if w.process.poll() is not None]
        if dead:
            _say(f"worker {dead[0].stage} exited with code {dead[0].process.returncode}; see its log")
            return 1
        now = time.monotonic()
        if exit_after_idle and last_line and now - last_line > exit_after_idle:
            return 0
        if timeout and now - started > timeout:
            _say(f"timed out after {timeout:.0f} s")
            return 1


def _say(message: str) -> None:
    print(f"wirewatch: {message}", file=sys.stderr, flush=True)
