"""The Reuters-21578 corpus from ../shared/data as raw-topic JSON objects, in publish order (for benchmarks)."""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import orjson

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "reuters21578" / "reuters21578.jsonl.gz"


def reuters_raw(limit: int) -> list[dict]:
    """The first `limit` dated Reuters wires with a body, oldest first, with the field names ingest accepts."""
    if not CORPUS.exists():
        sys.exit(f"needs {CORPUS} (the shared Reuters-21578 data set); it is not on this machine")
    with gzip.open(CORPUS, "rb") as lines:
        records = [r for r in map(orjson.loads, lines) if r.get("body") and r.get("date")]
    records.sort(key=lambda r: (r["date"], int(r["newid"])))
    return [{"id": f"reuters-{r['newid']}", "title": r.get("title") or "", "text": r["body"], "date": r["date"],
             "source": "Reuters"} for r in records[:limit]]
