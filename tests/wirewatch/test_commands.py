"""The `wirewatch` command as users run it: the offline tools, help, the compose file (`run`: test_run.py)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO


def wirewatch(*args: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "wirewatch.cli", *args], cwd=REPO, capture_output=True,
                          timeout=kwargs.pop("timeout", 120), check=False, **kwargs)


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
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_docker_compose_runs_the_kafka_version_run_installs() -> None:
    pinned = re.search(r"<kafka.version>([^<]+)</kafka.version>", (REPO / "deploy/kafka/pom.xml").read_text())
    assert pinned and f"image: apache/kafka:{pinned.group(1)}\n" in (REPO / "docker-compose.yml").read_text()
