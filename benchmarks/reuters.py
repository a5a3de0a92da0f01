"""The Reuters-21578 corpus from ../shared/data as raw-topic JSON objects, in publish order (for benchmarks)."""
from __future__ import annotations

import gzip

import orjson

from benchmarks.shared_data import REUTERS, require


def reuters_raw(limit: int) -> list[dict]:
    """The first `limit` dated Reuters wires with a body, oldest first, with the field names ingest accepts."""
    with gzip.open(require(REUTERS, "the shared Reuters-21578 data set"), "rb") as lines:
        records = [r for r in map(orjson.loads, lines) if r.get("body") and r.get("date")]
    records.sort(key=lambda r: (r["date"], int(r["newid"])))
    return [{"id": f"reuters-{r['newid']}", "title": r.get("title") or "", "text": r["body"], "date": r["date"],
             "source": "Reuters"} for r in records[:limit]]
