"""Dedup's typed table values: full names in code, the stored forms unchanged (bytes and old values)."""
from __future__ import annotations

from typing import Any

import pytest

from agents.dedup.state import (ArticleEntry, BandEntry, ExactEntry, GivenVerdict, StoryDoc, StoryEntry,
                                StoryVector)
from streams.state import TypedTable

STORED: list[tuple[Any, dict[str, Any]]] = [
    (BandEntry, {"id": "a1", "t": 1.5e9, "b": ["00ba7b2658c064"]}),
    (GivenVerdict, {"kind": "same_story", "story_id": "s1", "similarity": 0.5, "matched_id": "a0",
                    "added_sentences": ["A sentence."], "t": 1.5e9}),
    (ExactEntry, {"id": "a1", "t": 1.5e9, "title": ["kim", "summit"]}),
    (ArticleEntry, {"story_id": "s1", "source": "Reuters", "t": 1.5e9, "fingerprint": "ab", "sketch": "AAAA",
                    "title": ["kim"], "grams": "AAAAAAAAAAA="}),
    (StoryEntry, {"last_update": 1.5e9, "versions": ["a1", "a2"]}),
    (StoryDoc, {"terms": ["kim", "summit"], "hour": 416666, "o": 7}),
    (StoryVector, {"c": {"kim": 1.2}, "names": ["kim"], "norm": 1.2, "names_norm": 1.2, "n": 2, "hour": 416666,
                   "order": 7, "published": "2019-06-30T07:00:00+00:00", "last": "a2", "src": {"reuters": 1.5e9}}),
]


@pytest.mark.parametrize(("kind", "stored"), STORED, ids=[kind.__name__ for kind, _ in STORED])
def test_a_value_stores_exactly_what_it_was_read_from(kind: Any, stored: dict[str, Any]) -> None:
    assert kind.from_stored(stored).stored() == stored
    assert list(kind.from_stored(stored).stored()) == list(stored)  # same key order: same bytes


def test_values_stored_by_earlier_versions_load_with_defaults() -> None:
    assert StoryDoc.from_stored({"terms": ["kim"], "hour": 3}).order == -1
    old = StoryVector.from_stored({"c": {}, "names": [], "norm": 0.0, "names_norm": 0.0, "n": 1, "hour": 3,
                                   "order": 0, "published": None})
    assert (old.last_article, old.outlets) == (None, {})


def test_a_typed_table_reads_and_writes_the_stored_form() -> None:
    stored: dict[str, Any] = {}
    entries = TypedTable(stored, BandEntry)
    entries["0:1"] = BandEntry("a1", 1.5e9, ["00ba7b2658c064"])
    assert stored == {"0:1": {"id": "a1", "t": 1.5e9, "b": ["00ba7b2658c064"]}}
    assert entries["0:1"].article_id == "a1" and entries.get("0:2") is None and "0:1" in entries
    with pytest.raises(KeyError):
        entries["0:2"]
    del entries["0:1"]
    assert stored == {} and len(entries) == 0
