"""Articles and indexes shared by the dedup core's tests: a rate decision, its rewrite by another outlet, an
unrelated report, and a table that persists only what is assigned, as a Faust table does."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson

from agents.dedup.in_memory import DedupIndex
from streams.records import CleanArticle

T0 = datetime(2019, 6, 29, 8, 0, tzinfo=UTC)

REPORT = [
    "The central bank of Freedonia raised its main interest rate by half a percentage point on Tuesday, "
    "its third increase this year, as inflation climbed to the highest level in a decade.",
    "Governor Alma Rivera said the bank was ready to act again if price pressures did not ease. "
    "Economists surveyed before the decision had expected a smaller move of a quarter point.",
    "The currency strengthened against the dollar after the announcement, while government bond yields rose "
    "sharply across the curve. Shares of local lenders gained in afternoon trading.",
]
REVISION_SENTENCE = "Finance Minister Tomas Brandt welcomed the decision in a statement issued late on Tuesday evening."
REWRITE = [
    "Freedonia's central bank lifted its benchmark rate by 50 basis points on Tuesday, the third hike of the year, "
    "with inflation at a ten-year high.",
    "Rivera, the governor, told reporters that policy makers would move again should price pressures persist, "
    "surprising economists who had forecast a quarter-point increase.",
    "The local currency rallied versus the dollar and bond yields jumped; bank shares rose in the afternoon.",
]
UNRELATED = [
    "Heavy rain flooded parts of the northern coast over the weekend, forcing hundreds of families to leave "
    "their homes and closing the main highway for two days.",
    "Rescue teams used boats to reach villages cut off by the water, and the weather service warned of more "
    "storms later in the week.",
]


def article(article_id: str, paragraphs: list[str], source: str | None = "Wire A",
            published: datetime | None = T0, title: str = "Freedonia raises rates") -> CleanArticle:
    """A clean article as the clean stage would emit it."""
    return CleanArticle(id=article_id, title=title, paragraphs=paragraphs, source=source, published=published)


def new_index(partitions: int = 4, tables: Mapping[str, MutableMapping[str, Any]] | None = None) -> DedupIndex:
    """A dedup index over plain dicts (or the given mappings, by table name) with the default thresholds."""
    given = tables or {}
    return DedupIndex(table=lambda name: given.get(name, {}), partitions=partitions)


def index_with(*articles: CleanArticle) -> DedupIndex:
    """A fresh index that has already judged `articles`, in order."""
    index = new_index()
    for earlier in articles:
        index.judge(earlier)
    return index


class AssignmentOnlyTable(MutableMapping[str, Any]):
    """Behaves like a Faust table: reads return copies, so only `table[key] = value` persists anything."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> Any:
        return orjson.loads(self._data[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = orjson.dumps(value)  # also proves the value is JSON-serialisable

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
