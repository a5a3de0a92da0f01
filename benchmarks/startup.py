"""Seconds from the `wirewatch run` command to its first feed line, for a new start and for one that continues.

    .venv/bin/python -m benchmarks.startup [--runs 3]

In a fresh temporary data dir, each round runs `wirewatch run --fresh --exit-after-idle 2` on the seeds (a new start:
the broker's storage is formatted and the topics created) and then `wirewatch run --exit-after-idle 2` on the same
data dir (continuing: the broker and the workers recover the state the new start kept), each as its own process on free
ports. Times are taken from spawning the process: to its first feed line on stdout, to its first article (`NEW
STORY` or `DUPLICATE`), and to its exit, which includes the 2 s idle wait and stopping the workers and the broker.
Start-up (a JVM, seven Python workers, spaCy) competes for CPUs: run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from streams.settings import ENV_PREFIX, Settings
from wirewatch.embedded_broker import free_port
from wirewatch.stages import STAGE_MODULES

REPO = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 2.0  # `--exit-after-idle`: the feed's quiet time after which `run` stops
TIMEOUT = 600.0  # seconds `run` may take before it gives up (`--timeout`); we wait a minute more for it to stop
PORTS = len(STAGE_MODULES) + 1  # `run` serves its own /metrics on WIREWATCH_WEB_PORT and one stage on each next port
ARTICLE_PREFIXES = ("NEW STORY", "DUPLICATE")  # the feed's line for the first article, whatever its verdict


@dataclass
class Start:
    """One `wirewatch run`, in seconds from spawning it."""

    first_line: float
    first_article: float
    whole_run: float


def free_port_base(host: str) -> int:
    """A port that is free on `host` now together with the PORTS - 1 after it (another process may still take one)."""
    for _ in range(100):
        base = free_port(host)
        if base + PORTS <= 65536 and all(port_is_free(host, port) for port in range(base + 1, base + PORTS)):
            return base
    raise SystemExit(f"found no {PORTS} consecutive free ports on {host}")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def timed_run(data_dir: Path, fresh: bool, web_host: str) -> Start:
    """Run `wirewatch run` once on `data_dir` and time it; exit with its stderr's tail if it fails."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}  # defaults, not this shell's
    environ.update({f"{ENV_PREFIX}DATA_DIR": str(data_dir), f"{ENV_PREFIX}WEB_PORT": str(free_port_base(web_host))})
    command = [sys.executable, "-m", "wirewatch.cli", "run", "--exit-after-idle", str(IDLE_SECONDS),
               "--timeout", str(TIMEOUT)] + (["--fresh"] if fresh else [])
    seen: dict[str, float] = {}
    stderr_tail: collections.deque[str] = collections.deque(maxlen=30)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None

    def read_feed(stdout: IO[bytes]) -> None:  # its own thread, so a line's time is when it came, not when we looked
        for raw in stdout:
            line, now = raw.decode(errors="replace").strip(), time.monotonic()
            if line:
                seen.setdefault("first_line", now - started)
            if line.startswith(ARTICLE_PREFIXES):
                seen.setdefault("first_article", now - started)

    def keep_tail(stderr: IO[bytes]) -> None:  # also keeps the pipe from filling up and blocking `run`
        stderr_tail.extend(raw.decode(errors="replace") for raw in stderr)

    readers = [threading.Thread(target=read_feed, args=(process.stdout,)),
               threading.Thread(target=keep_tail, args=(process.stderr,))]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # `run` stops its workers and broker on SIGTERM as on Ctrl-C
        process.wait()
    whole_run = time.monotonic() - started
    for reader in readers:
        reader.join()
    if process.returncode != 0 or len(seen) < 2:
        sys.stderr.write("".join(stderr_tail))
        raise SystemExit(f"`{' '.join(command[1:])}` exited with {process.returncode} "
                         f"(feed lines seen: {sorted(seen) or 'none'}); data in {data_dir}")
    return Start(seen["first_line"], seen["first_article"], whole_run)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--runs", type=int, default=3)
    args = options.parse_args()
    web_host = Settings.from_env({}).web_host
    data_dir = Path(tempfile.mkdtemp(prefix="wirewatch-startup-bench-"))
    starts: dict[str, list[Start]] = {"new": [], "continuing": []}
    for _ in range(args.runs):
        starts["new"].append(timed_run(data_dir, True, web_host))
        starts["continuing"].append(timed_run(data_dir, False, web_host))

    print(f"wirewatch run on seeds/, {datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs; "
          f"data in {data_dir}")
    print(f"  {'':44}" + "".join(f"{'run ' + str(i + 1):>9}" for i in range(args.runs)) + f"{'median':>9}")
    for kind, runs in starts.items():
        for name, field in (("first feed line (s)", "first_line"), ("first article (s)", "first_article"),
                            ("whole run incl. stop (s)", "whole_run")):
            values = [getattr(start, field) for start in runs]
            print(f"  {kind + ' start, ' + name:44}" + "".join(f"{v:9.2f}" for v in values)
                  + f"{statistics.median(values):9.2f}")


if __name__ == "__main__":
    main()
