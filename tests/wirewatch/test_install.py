"""A `pip install` of wirewatch works from any folder: its shipped defaults (aliases, example rules, seeds) are package
data, not files the commands find only when run from the checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO

# What the install is built from; copied so that the build's `*.egg-info` is not written into the checkout.
SOURCES = ("pyproject.toml", "README.md", "streams", "agents", "wirewatch")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a non-editable install of the project: what its wheel puts in site-packages, built offline.

    setuptools' `build_py` lays out the packages and their declared package data exactly as a pure-Python wheel
    holds them; `pip install --target` would run it too, but to build a wheel it needs `bdist_wheel` (the `wheel`
    package or setuptools 70.1+) that the virtualenv's setuptools lacks, and offline it cannot fetch either."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    target = root / "site"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "--quiet", "build_py",
                    "--build-lib", str(target)], cwd=source, check=True, capture_output=True, timeout=120)
    return target


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that is neither the checkout nor the install: where a user runs the commands."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python *args` in `cwd` with only the install on the path and every setting at its default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_default_rules_and_aliases_are_the_installed_ones(site: Path, elsewhere: Path) -> None:
    probe = ("import agents, streams.settings\n"
             "settings = streams.settings.Settings()\n"
             "print(agents.__file__, streams.settings.__file__, settings.rules_file, settings.aliases_file, sep='\\n')")
    result = run_installed(site, elsewhere, "-c", probe)
    assert result.returncode == 0, result.stderr
    *modules, rules, aliases = [Path(line) for line in result.stdout.splitlines()]
    for path in [*modules, rules, aliases]:
        assert path.is_relative_to(site), f"{path} is not from the install in {site}"
    assert rules.is_file() and aliases.is_file()


def test_run_without_paths_ingests_the_installed_seeds(site: Path, elsewhere: Path) -> None:
    result = run_installed(site, elsewhere, "-c", "import wirewatch.cli; print(wirewatch.cli.DEMO_SEEDS)")
    assert result.returncode == 0, result.stderr
    seeds = Path(result.stdout.strip())
    assert seeds.is_relative_to(site)
    assert sorted(p.name for p in seeds.glob("*.txt")) == ["000_b9f6a1b681eeff1d.txt", "001_2c76f327b3d8a4c5.txt"]


def test_help_works_from_another_folder(site: Path, elsewhere: Path) -> None:
    result = run_installed(site, elsewhere, "-m", "wirewatch.cli", "--help")
    assert result.returncode == 0, result.stderr
    assert "WIREWATCH_ALIASES_FILE" in result.stdout and "process" in result.stdout


def test_process_tags_and_alerts_on_the_seeds_from_another_folder(site: Path, elsewhere: Path,
                                                                  seed_paths: list[Path]) -> None:
    inputs = elsewhere / "articles"
    inputs.mkdir()
    for path in seed_paths:
        shutil.copy2(path, inputs / path.name)
    result = run_installed(site, elsewhere, "-m", "wirewatch.cli", "process", "articles", "--out", "out.jsonl")
    assert result.returncode == 0, result.stderr
    articles = [orjson.loads(line) for line in (elsewhere / "out.jsonl").read_bytes().splitlines()]
    assert [a["verdict"] for a in articles] == ["new", "update", "same_story"]
    # `DMZ` written as the aliases file's canonical name; korea-summit is a rule of the example rules.
    assert all({"canonical": "Demilitarized Zone", "label": "LOC"} in a["entities"] for a in articles)
    assert [alert["rule_id"] for alert in articles[0]["alerts"]] == ["korea-summit"]
