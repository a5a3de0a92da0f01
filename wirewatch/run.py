"""`wirewatch run`: the embedded default — a Kafka broker with its data on disk, the topics, one supervised process
per stage, the seeds, a live feed. A second run continues where the first stopped; `--fresh` starts over."""
from __future__ import annotations

import asyncio
import codecs
import dataclasses
import logging
import os
import selectors
import shutil
import signal
import sys
import time
from pathlib import Path

from prometheus_client import start_http_server

from agents.ingest.producer import ingest_paths
from streams.settings import Settings
from wirewatch.admin import create_topics
from wirewatch.embedded_broker import broker_for
from wirewatch.stages import STAGE_MODULES
from wirewatch.supervisor import BrokerChild, GaveUp, Supervisor, WorkerProcess, stop_workers

log = logging.getLogger(__name__)
# What `--fresh` forgets: the broker's data (topics, offsets, tables' changelogs) and the workers' local state.
STATE_FOLDERS = ("kafka", "faust")
# Not on the way to the live view's first line: started once the articles are sent, so that on a small machine the
# broker and the other workers get the cores while they start.
LATER_STAGES = ("stories", "entities")


def run_embedded(paths: list[Path], settings: Settings, *, fresh: bool = False, exit_after_idle: float = 0.0,
                 timeout: float = 0.0) -> int:
    """Run everything on the embedded broker until Ctrl-C (or `exit_after_idle` s after the feed goes quiet)."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupted)  # stopped by a service manager: the same clean stop as Ctrl-C
    if fresh:
        for folder in STATE_FOLDERS:
            shutil.rmtree(settings.data_dir / folder, ignore_errors=True)
    run_dir = settings.data_dir / "run" / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    broker = broker_for(settings, settings.data_dir / "kafka", log_path=run_dir / "broker.log")
    continuing = broker.formatted
    settings = dataclasses.replace(settings, broker=broker.url)
    supervisor = Supervisor(settings.worker_max_restarts)
    workers = [WorkerProcess(stage, settings, settings.web_port + offset, run_dir / f"{stage}.log",
                             pipe_stdout=stage == "feed")
               for offset, stage in enumerate(STAGE_MODULES, start=1)]
    try:
        start_http_server(settings.web_port, addr=settings.web_host)
        for worker in workers:  # they load their models while the broker starts, then wait for its topics
            if worker.name not in LATER_STAGES:
                supervisor.watch(worker)
        supervisor.watch(BrokerChild(broker))
        asyncio.run(create_topics(settings))
        _say(f"embedded Kafka broker {broker.url}, data in {broker.data_dir} "
             + ("(continuing from the last run; --fresh starts over)" if continuing else "(new)")
             + f"; logs in {run_dir}")
        _say("metrics: " + "  ".join([f"ingest http://{settings.web_host}:{settings.web_port}/metrics"]
                                     + [f"{w.name} {w.base_url}/metrics" for w in workers]))
        stories = next(w for w in workers if w.name == "stories").base_url
        _say(f"story state: {stories}/stories?since=2019-01-01T00:00:00Z and {stories}/stories/ID")
        alerts = next(w for w in workers if w.name == "alert").base_url
        _say(f"alert stream (server-sent events): {alerts}/alerts/stream")
        _say(f"live wire page: {next(w for w in workers if w.name == 'web').base_url}/wire")
        report = asyncio.run(ingest_paths(paths, settings))
        for worker in workers:
            if worker.name in LATER_STAGES:
                supervisor.watch(worker)
        _say(f"ingested {report.sent} articles from {', '.join(map(str, paths))}"
             + (f" ({report.dead_lettered} to the dead-letter topic)" if report.dead_lettered else "")
             + "; Ctrl-C stops")
        feed = next(w for w in workers if w.name == "feed")
        return _relay_feed(feed, supervisor, exit_after_idle, timeout, started)
    except KeyboardInterrupt:
        return 0
    except GaveUp as error:
        _say(f"stopping: {error}")
        return 1
    finally:
        _say("stopping workers and broker…")
        stopping = time.monotonic()
        # A worker's clean stop (2-3 s) commits to the broker: without one it would wait out stop_workers' 30 s,
        # so it is killed at once instead, a crash its stage recovers from.
        broker_answers = broker.pid is not None and broker.answers()
        if broker_answers:
            stop_workers(workers)
        else:
            stop_workers(workers, timeout=0.0)
        broker.stop()   # last: the workers commit and leave their groups on it
        _say(f"stopped in {time.monotonic() - stopping:.1f} s"
             + ("" if broker_answers else " (the broker did not answer: workers killed)"))


def _relay_feed(feed: WorkerProcess, supervisor: Supervisor, exit_after_idle: float, timeout: float,
                started: float) -> int:
    """Print the feed worker's lines as they come, keeping every process alive; return when told to."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    last_line = 0.0
    while True:
        assert feed.process is not None and feed.process.stdout is not None
        stdout = feed.process.stdout  # a new pipe after the feed worker was restarted
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=0.5)
        if ready:
            # Everything the pipe holds: readline() would keep the rest of a multi-line block in Python's buffer,
            # where select() does not see it, until the feed printed something else.
            chunk = os.read(stdout.fileno(), 65536)
            if chunk:
                sys.stdout.write(decoder.decode(chunk))
                sys.stdout.flush()
                last_line = time.monotonic()
            else:
                time.sleep(0.1)  # end of file: the feed worker exited; the supervisor sees to it
        supervisor.check()
        now = time.monotonic()
        if exit_after_idle and last_line and now - last_line > exit_after_idle:
            return 0
        if timeout and now - started > timeout:
            _say(f"timed out after {timeout:.0f} s")
            return 1


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _say(message: str) -> None:
    print(f"wirewatch: {message}", file=sys.stderr, flush=True)
