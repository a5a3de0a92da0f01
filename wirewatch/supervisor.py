"""What keeps `wirewatch run` running: one process per stage and the broker, each restarted after a back-off when
it dies, and the run stopped, with the last lines of its log, when one keeps dying."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from streams.metrics import WORKER_RESTARTS
from streams.settings import ENV_PREFIX, Settings
from wirewatch.embedded_broker import EmbeddedBroker, die_with_parent

log = logging.getLogger(__name__)
# A process that stayed up this long before dying starts its back-off over: it was not crashing in a loop.
STABLE_SECONDS = 60.0
LONGEST_BACK_OFF = 30.0
LAST_LINES = 20


class Child(Protocol):
    """Something the supervisor keeps running."""

    name: str

    @property
    def log_path(self) -> Path: ...

    def start(self) -> None: ...

    def exit_code(self) -> int | None: ...   # None while it runs


@dataclass
class WorkerProcess:
    """`wirewatch worker STAGE` as a child process, with every setting passed through the environment."""

    name: str
    settings: Settings
    web_port: int
    log_path: Path
    pipe_stdout: bool = False   # the feed: run relays what it prints
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Where the worker's web server answers (`/metrics`, and the views of some stages)."""
        return f"http://{self.settings.web_host}:{self.web_port}"

    def start(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()  # the pipe of the process this one replaces
        environ = {**os.environ, **self.settings.to_env(), f"{ENV_PREFIX}WEB_PORT": str(self.web_port)}
        with open(self.log_path, "ab") as log_file:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wirewatch.cli", "worker", self.name],
                stdout=subprocess.PIPE if self.pipe_stdout else log_file, stderr=log_file, stdin=subprocess.DEVNULL,
                env=environ, start_new_session=True,
                preexec_fn=_killed_with_parent)  # noqa: PLW1509 — prctl only: no lock a thread could hold

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


def _killed_with_parent() -> None:
    """A worker dies at once with `run`: its broker dies too, so it could neither commit nor flush, and waiting for
    the broker kept workers with tables alive a minute. Dying is a crash, which at-least-once stages recover from."""
    die_with_parent(signal.SIGKILL)


@dataclass
class BrokerChild:
    """The embedded broker, restarted on its own data folder and ports."""

    broker: EmbeddedBroker
    name: str = "broker"

    @property
    def log_path(self) -> Path:
        return self.broker.log_path or Path(os.devnull)

    def start(self) -> None:
        self.broker.start()

    def exit_code(self) -> int | None:
        return self.broker.exit_code()


@dataclass
class _Watch:
    child: Child
    started_at: float
    failures: int = 0                 # deaths in a row, each within STABLE_SECONDS of its start
    restart_at: float | None = None   # when a dead child is due to start again
    died_at: float = 0.0              # when it was last seen dead


class GaveUp(RuntimeError):
    """A child kept dying: the run stops."""


@dataclass
class Supervisor:
    """Restarts dead children with exponential back-off (1, 2, 4 … 30 s), counting each restart in
    `wirewatch_worker_restarts_total`; after `max_restarts` deaths in a row, `check` raises GaveUp."""

    max_restarts: int
    _watches: list[_Watch] = field(default_factory=list)

    def watch(self, child: Child, *, started: bool = False) -> Child:
        """Supervise `child`, starting it unless it already runs."""
        if not started:
            child.start()
        # At zero from the start: `increase()` (the restart-loop alert) cannot see a counter's first appearance.
        WORKER_RESTARTS.labels(child.name)
        self._watches.append(_Watch(child, time.monotonic()))
        return child

    def check(self) -> None:
        """Restart the children that died and are due; raise GaveUp for one that died too often in a row."""
        now = time.monotonic()
        for watch in self._watches:
            code = watch.child.exit_code()
            if code is None:
                continue
            if watch.restart_at is None:
                watch.failures = 1 if now - watch.started_at >= STABLE_SECONDS else watch.failures + 1
                if watch.failures > self.max_restarts:
                    raise GaveUp(f"{watch.child.name} exited with code {code} {watch.failures} times in a row; the "
                                 f"last lines of {watch.child.log_path}:\n{last_lines(watch.child.log_path)}")
                delay = min(2.0 ** (watch.failures - 1), LONGEST_BACK_OFF)
                watch.died_at, watch.restart_at = now, now + delay
                log.warning("%s died (%s); restarting it in %.0f s", watch.child.name, exit_reason(code), delay,
                            extra={"stage": watch.child.name, "exit_code": code, "in_seconds": delay,
                                   "in_a_row": watch.failures})
            if now >= watch.restart_at:
                WORKER_RESTARTS.labels(watch.child.name).inc()
                watch.child.start()   # the broker's returns once it answers
                watch.started_at, watch.restart_at = time.monotonic(), None
                log.info("%s restarted, %.1f s after it died", watch.child.name, watch.started_at - watch.died_at,
                         extra={"stage": watch.child.name})


def exit_reason(code: int) -> str:
    """How a process ended, in words: `exit code 1`, or `killed by SIGKILL` for Popen's negative codes."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def stop_workers(workers: list[WorkerProcess], timeout: float = 30.0) -> None:
    """SIGTERM every worker (Faust shuts down cleanly on it), SIGKILL whoever is still there after `timeout`."""
    running = [w.process for w in workers if w.process is not None and w.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def last_lines(path: Path, count: int = LAST_LINES) -> str:
    """The last `count` lines of a log file, for a message that says why something stopped."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(handle.seek(0, os.SEEK_END) - 64 * 1024, 0))
            lines = deque(handle.read().decode("utf-8", "replace").splitlines(), maxlen=count)
    except OSError as error:
        return f"(cannot read it: {error})"
    return "\n".join(lines)
