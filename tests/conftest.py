"""Shared fixtures: the seed documents and the shared data folder."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    """The two seed documents, in name order (the Bloomberg versions first)."""
    return sorted(SEEDS.glob("*.txt"))


@pytest.fixture(scope="session")
def seed_texts(seed_paths: list[Path]) -> list[str]:
    """The seed documents' text as it is on disk."""
    return [p.read_text(encoding="utf-8") for p in seed_paths]


def shared_data(relative: str) -> Path:
    """A path under ../shared/data, skipping the test with a clear message when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the shared real-news data set); it is not present on this machine")
    return path
