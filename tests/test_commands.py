"""The `wirewatch` command as users run it: the embedded default, the offline tools, help, the compose file."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agents.embedded_broker import free_port

REPO = Path(__file__).resolve().parent.parent


def wirewatch(*args: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], cwd=REPO, capture_output=True,
                          timeout=kwargs.pop("timeout", 120), **kwargs)


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


@pytest.mark.integration
def test_run_shows_the_story_its_update_and_an_alert_then_stops_cleanly(tmp_path: Path) -> None:
    environ = {**os.environ, "WIREWATCH_DATA_DIR": str(tmp_path), "WIREWATCH_WEB_PORT": str(free_port())}
    process = subprocess.Popen([sys.executable, "-m", "agents.cli", "run"], cwd=REPO, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    output = b""
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline and not (b"SAME STORY" in output and output.count(b"ALERT") >= 3):
        output += process.stdout.read() or b""
        time.sleep(0.2)
    workers = children_of(process.pid)
    assert len(workers) >= 7, "the broker and six workers run as child processes"
    stories = f"http://127.0.0.1:{int(environ['WIREWATCH_WEB_PORT']) + 5}/stories?since=2019-01-01T00:00:00Z"
    listed = story_listing(stories, lambda found: found and found[0]["counts"]["versions"] == 3, timeout=30)
    assert [s["counts"]["update"] for s in listed] == [1], "run serves the seed story's state"
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert process.wait(timeout=60) == 0
    output += process.stdout.read() or b""
    text = output.decode()
    assert text.count("NEW STORY") == 1, text
    assert "UPDATE" in text and "SAME STORY" in text and "ALERT korea-summit (new_story)" in text
    update_block = text[text.index("UPDATE"):].splitlines()[1:4]
    assert any(line.strip().startswith("+ ") for line in update_block), "the update shows what it adds"
    time.sleep(0.5)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()
            and "(Z)" not in Path(f"/proc/{pid}/stat").read_text()[:80]] == [], "no orphan process is left"


def story_listing(url: str, done: Callable[[list], bool], timeout: float) -> list:
    """The stories worker's listing at `url` once `done` accepts it (or the last one seen)."""
    deadline, found = time.monotonic() + timeout, []
    while time.monotonic() < deadline and not done(found):
        try:
            found = orjson.loads(urllib.request.urlopen(url, timeout=5).read())
        except OSError:  # not up yet, or 503 while its partitions are assigned
            pass
        time.sleep(0.3)
    return found


def test_tag_prints_offsets_into_the_text_as_given(tmp_path: Path) -> None:
    text = "  President Trump met North Korea’s Kim Jong Un.\nLater, Donald Trump left."
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(orjson.dumps({"id": "t1", "text": text}) + b"\n" + b"not json\n")
    result = wirewatch("tag", str(lines))
    assert result.returncode == 1 and b"invalid_line" in result.stderr  # the bad line is reported, not skipped
    (only,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert only["id"] == "t1"
    for entity in only["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"]
        assert set(entity) == {"start", "end", "label", "text", "canonical"}
    assert {e["canonical"] for e in only["entities"] if e["text"] == "Trump"} == {"Donald Trump"}
    assert "North Korea" in {e["text"] for e in only["entities"]}


def test_clean_prints_one_article_per_input_with_its_path(seed_paths) -> None:
    result = wirewatch("clean", *map(str, seed_paths))
    assert result.returncode == 0, result.stderr
    articles = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [Path(a["path"]).name for a in articles] == [seed_paths[0].name] * 2 + [seed_paths[1].name]
    assert all(a["id"] and a["paragraphs"] for a in articles)


@pytest.mark.parametrize("command", [[], ["run"], ["worker"], ["ingest"], ["topics", "create"], ["clean"], ["tag"],
                                     ["process"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = wirewatch(*command, "--help", timeout=30)
    assert result.returncode == 0 and b"usage: wirewatch" in result.stdout


def test_docker_compose_file_is_valid() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (deploy/setup.sh --test installs it)")
    result = subprocess.run([compose, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
