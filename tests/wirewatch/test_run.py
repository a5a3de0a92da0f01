"""`wirewatch run` as users run it: the seeds on the embedded Kafka broker, state kept across runs, supervised
workers, nothing left behind."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO, free_port_block, metric_value, wait_for
from wirewatch.stages import STAGE_MODULES

pytestmark = pytest.mark.integration
STAGES = len(STAGE_MODULES)
STOP_BOUND = 15.0   # seconds: a safety bound for stopping everything (2-4 s measured on 2 cores)


@dataclass
class Run:
    """A `wirewatch run` process and what it printed so far."""

    process: subprocess.Popen[bytes]
    web_port: int
    stdout: bytes = b""
    stderr: bytes = b""
    children: list[int] = field(default_factory=list)

    def read(self) -> str:
        for stream, attribute in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr")):
            assert stream is not None
            setattr(self, attribute, getattr(self, attribute) + (stream.read() or b""))
        return self.stdout.decode()

    def until(self, done: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while not done(self.read()):
            if self.process.poll() is not None:
                self.read()
                raise AssertionError(f"run exited with {self.process.returncode} before {what}:\n"
                                     f"{self.stdout.decode()}\n{self.stderr.decode()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.stdout.decode()}")
            time.sleep(0.2)
        return self.stdout.decode()

    def said(self, since: int = 0) -> str:
        """What run printed on stderr, from byte `since` on."""
        self.read()
        return self.stderr[since:].decode(errors="replace")

    def interrupt(self) -> int:
        """Ctrl-C, then the exit code."""
        self.children = children_of(self.process.pid)
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=90)
        self.read()
        return code


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Start `wirewatch run` with its data in tmp_path; every run (and anything it left) is killed after the test."""
    runs: list[Run] = []

    def start(*args: str, **environ: str) -> Run:
        web_port = free_port_block(STAGES + 1)  # run's own port, then one per stage
        env = {**os.environ, "WIREWATCH_DATA_DIR": str(tmp_path / "data"), "WIREWATCH_WEB_PORT": str(web_port),
               **environ}
        process = subprocess.Popen([sys.executable, "-m", "wirewatch.cli", "run", *args], cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
        runs.append(Run(process, web_port))
        return runs[-1]

    yield start
    for run in runs:
        left = children_of(run.process.pid) + run.children
        if run.process.poll() is None:
            run.process.kill()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    """Every live process whose parent chain leads to `pid`."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def processes_of(pid: int) -> dict[str, int]:
    """The live processes under `run` by what they are: each stage's worker by its stage, and the `broker`."""
    found = {}
    for child in alive(children_of(pid)):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if b"worker" in command[:-2]:
            found[command[-2].decode()] = child
        elif (title := re.match(rb"\[Faust:Worker\] \S+ \S+-(\w+) -p ", command[0])):  # setproctitle installed
            found[title[1].decode()] = child
        elif b"kafka.Kafka" in command:
            found["broker"] = child
    return found


def all_running(pid: int) -> dict[str, int]:
    """`processes_of(pid)` once every stage's worker and the broker are there: a child just forked still has run's
    command line, and the later stages start after the articles are sent."""
    def everyone() -> dict[str, int] | None:
        found = processes_of(pid)
        return found if len(found) == STAGES + 1 else None

    return wait_for(everyone, 30, "every stage's worker and the broker running")


def exit_times(processes: dict[str, int], started: float, timeout: float) -> dict[str, float]:
    """Seconds from `started` until each of `processes` exited, watched every 20 ms for up to `timeout` s."""
    exited: dict[str, float] = {}
    while len(exited) < len(processes) and time.monotonic() - started < timeout:
        for name, pid in processes.items():
            if name not in exited and not alive([pid]):
                exited[name] = round(time.monotonic() - started, 2)
        time.sleep(0.02)
    return exited


def alive(pids: list[int]) -> list[int]:
    """The processes of `pids` still running (zombies, already dead, do not count)."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()
            and " Z " not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:4]]


def seed_story_shown(text: str) -> bool:
    return "SAME STORY" in text and text.count("\nALERT ") + text.startswith("ALERT ") >= 2


def story_listing(url: str, done: Callable[[list], bool], timeout: float) -> list:
    """The stories worker's listing at `url` once `done` accepts it (or the last one seen)."""
    deadline = time.monotonic() + timeout
    found: list = []
    while time.monotonic() < deadline and not done(found):
        with contextlib.suppress(OSError):  # not up yet, or 503 while its partitions are assigned
            found = orjson.loads(urllib.request.urlopen(url, timeout=5).read())
        time.sleep(0.3)
    return found


def wire_total(wire: str) -> int:
    """How many stories the wire page's listing has; -1 while it does not answer yet."""
    try:
        return int(orjson.loads(urllib.request.urlopen(wire + "/api/stories", timeout=5).read())["total"])
    except OSError:
        return -1


def test_run_shows_the_seeds_then_continues_where_it_stopped_and_starts_over_when_fresh(start_run) -> None:
    first = start_run()
    text = first.until(seed_story_shown, 120, "the seed story and its alerts")
    assert len(alive(children_of(first.process.pid))) == STAGES + 1, "the broker and a worker per stage"
    stories = f"http://127.0.0.1:{first.web_port + 5}/stories?since=2019-01-01T00:00:00Z"
    listed = story_listing(stories, lambda found: bool(found) and found[0]["counts"]["versions"] == 3, timeout=30)
    assert [s["counts"]["update"] for s in listed] == [1], "run serves the seed story's state"
    wire = f"http://127.0.0.1:{first.web_port + STAGES}/wire"   # web is the last stage
    assert f"live wire page: {wire}" in first.stderr.decode()
    wait_for(lambda: wire_total(wire) == 1, 30, "the wire page's one story")
    assert first.interrupt() == 0
    assert text.count("NEW STORY") == 1, text
    assert "UPDATE" in text and "SAME STORY" in text
    assert sorted(re.findall(r"^ALERT (\S+ \(\w+\))", text, flags=re.MULTILINE)) == [
        "korea-summit (new_development)", "korea-summit (new_story)"]
    update_block = text[text.index("UPDATE"):].splitlines()[1:4]
    assert any(line.strip().startswith("+ ") for line in update_block), "the update shows what it adds"
    assert "(new)" in first.stderr.decode()
    time.sleep(0.5)
    assert alive(first.children) == [], "no process is left after Ctrl-C"

    # The broker kept its data: the same seeds are duplicates of what the first run saw, and raise no alert.
    second = start_run("--exit-after-idle", "5")
    assert second.process.wait(timeout=120) == 0, second.read() + second.stderr.decode()[-3000:]
    text = second.read()
    assert re.findall(r"^(NEW STORY|UPDATE|SAME STORY|DUPLICATE|ALERT)", text, flags=re.MULTILINE) == \
        ["DUPLICATE"] * 3, text
    assert "continuing from the last run" in second.stderr.decode()
    listed = story_listing(stories.replace(str(first.web_port + 5), str(second.web_port + 5)),
                           bool, timeout=1)
    assert listed == [], "the stories worker stopped with the run"

    third = start_run("--fresh", "--exit-after-idle", "5")
    assert third.process.wait(timeout=120) == 0, third.read() + third.stderr.decode()[-3000:]
    text = third.read()
    assert text.count("NEW STORY") == 1 and "DUPLICATE" not in text, text
    assert "(new)" in third.stderr.decode()


def test_a_killed_worker_is_restarted_and_a_killed_run_leaves_no_process(start_run) -> None:
    run = start_run()
    run.until(seed_story_shown, 120, "the seed story and its alerts")
    workers = all_running(run.process.pid)
    assert sorted(workers) == sorted(["clean", "dedup", "tag", "alert", "stories", "entities", "feed", "web", "broker"])
    os.kill(workers["clean"], signal.SIGKILL)
    restarts = 'wirewatch_worker_restarts_total{stage="clean"}'
    wait_for(lambda: metric_value(run.web_port, restarts) == 1, 30, "the clean worker restarted")
    wait_for(lambda: metric_value(run.web_port + 1, 'wirewatch_articles_total{outcome="in",stage="clean"}') == 0
             and urllib.request.urlopen(f"http://127.0.0.1:{run.web_port + 1}/metrics", timeout=5).status == 200,
             60, "the new clean worker serving its metrics")
    assert run.process.poll() is None, "the run goes on"

    everything = alive(children_of(run.process.pid))
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(timeout=10)
    wait_for(lambda: not alive(everything), 30, f"no process left after run was killed; alive: {alive(everything)}")


def test_a_worker_that_keeps_dying_stops_the_run_with_its_last_log_lines(start_run, tmp_path: Path) -> None:
    run = start_run(WIREWATCH_RULES_FILE=str(tmp_path / "missing.yaml"), WIREWATCH_WORKER_MAX_RESTARTS="2")
    assert run.process.wait(timeout=120) == 1
    run.read()
    said = run.stderr.decode()
    # alert and entities both read the rules file; whichever gives up first stops the run.
    assert re.search(r"(alert|entities) exited with code 2 3 times in a row", said), said[-3000:]
    assert "missing.yaml: cannot read rules" in said, "the worker's own last words are shown"


def test_ctrl_c_in_a_terminal_stops_the_workers_cleanly_then_the_broker_within_seconds(start_run) -> None:
    run = start_run()
    run.until(seed_story_shown, 120, "the seed story and its alerts")
    processes = all_running(run.process.pid)
    assert len(processes) == STAGES + 1, processes
    interrupted = time.monotonic()
    os.killpg(run.process.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground process group
    exited = exit_times(processes, interrupted, timeout=STOP_BOUND)
    assert run.process.wait(timeout=STOP_BOUND) == 0
    assert sorted(exited) == sorted(processes), f"still running {STOP_BOUND} s after Ctrl-C; exited: {exited}"
    workers = {name: at for name, at in exited.items() if name != "broker"}
    assert exited["broker"] > max(workers.values()), f"the broker stops last: {exited}"
    said = re.search(r"logs in (\S+)", run.said())
    assert said, run.said()
    logs = Path(said.group(1))
    for stage in workers:  # Faust's last words after a clean stop; a killed worker has none
        assert "Closing event loop" in (logs / f"{stage}.log").read_text(), f"{stage} stopped cleanly"
    assert alive(list(processes.values())) == []


def test_a_killed_broker_is_reported_at_once_and_restarted_and_a_stop_without_it_is_quick(start_run) -> None:
    run = start_run()
    run.until(seed_story_shown, 120, "the seed story and its alerts")
    processes = all_running(run.process.pid)
    mark = len(run.stderr)
    os.kill(processes["broker"], signal.SIGKILL)
    wait_for(lambda: "broker died (killed by SIGKILL)" in run.said(mark), 5, "run saying the broker died")
    wait_for(lambda: "broker restarted" in run.said(mark), 60, "run saying the broker is back")
    restarted = all_running(run.process.pid)
    assert restarted.keys() == processes.keys() and restarted["broker"] != processes["broker"]

    # Stopped while the broker is down again: the workers cannot commit without it, and must not wait for it.
    mark = len(run.stderr)
    os.kill(restarted["broker"], signal.SIGKILL)
    wait_for(lambda: "broker died" in run.said(mark), 5, "run saying the broker died again")
    stopping = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=60) == 0
    assert time.monotonic() - stopping < STOP_BOUND, run.said(mark)
    time.sleep(0.5)
    assert alive(list(processes.values()) + list(restarted.values())) == [], "nothing outlives run"
