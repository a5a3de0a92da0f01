"""Where the benchmarks find ../shared/data (real news, never copied into the repository)."""
from __future__ import annotations

import sys
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
REUTERS = SHARED_DATA / "reuters21578" / "reuters21578.jsonl.gz"
ZYTE_PAGES = SHARED_DATA / "zyte-aeb-dev"


def require(path: Path, what: str) -> Path:
    """`path`, or exit with a clear message naming it when the shared data is not on this machine."""
    if not path.exists():
        sys.exit(f"needs {path} ({what}); it is not on this machine")
    return path
