"""The size matrix on the broker: articles from 100 KB to the raw-topic limit, and news pages of 2 and 10 MB, through
every stage's worker."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agents.ingest.producer import ingest_paths
from streams.settings import Settings
from tests.conftest import SpawnedWorker, long_news_text
from tests.kafka_io import read_to_end, read_topic_sync, wait_consumed

pytestmark = pytest.mark.integration
INPUTS = {"clean": "raw", "dedup": "clean", "tag": "deduped", "alert": "tagged", "stories": "tagged",
          "entities": "tagged"}
STAGES = tuple(INPUTS)
TEXT_SIZES = (100_000, 300_000, 600_000)


def write_matrix(folder: Path, page: str, raw_limit: int) -> dict[str, tuple[bool, bool]]:
    """Text articles of each size and up to the raw limit, and the page padded to 2 and 10 MB, as files in
    `folder`, and a list of names whose mentions outweigh the message limit; returns, per file, whether its clean
    article and its tagged record must come out cut (`truncated`)."""
    folder.mkdir()
    largest = raw_limit - 5_000  # its raw-topic message (text, escapes, origin, ingest time) just under the limit
    texts = long_news_text(largest)
    expected: dict[str, tuple[bool, bool]] = {}
    for size in (*TEXT_SIZES, largest):  # the same wires at each length: later ones add to the story (the most
        path = folder / f"text-{size}.txt"  # that dedup's record carries besides the article)
        path.write_text(f"A report of {size} bytes\n\n" + texts[:size])
        expected[str(path)] = (size > 200_000, False)
    names = folder / "names.txt"
    names.write_text("Who was there\n\n" + "".join(f"Ann Lee met Bob Smith in Paris with Acme Corp on day {n}. "
                                                  for n in range(3_000)))
    expected[str(names)] = (False, True)
    head, body = page.split("</body>", 1)
    for megabytes in (2, 10):
        path = folder / f"page-{megabytes}mb.html"
        script = "x" * (megabytes * 1_000_000 - len(page))
        path.write_text(f'{head}<script>var state = "{script}";</script></body>{body}')
        expected[str(path)] = (False, False)
    return expected


def test_every_size_the_ingest_accepts_passes_every_stage(spawn_worker: Callable[..., SpawnedWorker],
                                                         pipeline_settings: Settings, largest_pages: list[str],
                                                         tmp_path: Path) -> None:
    workers = [spawn_worker(stage, pipeline_settings) for stage in STAGES]
    expected = write_matrix(tmp_path / "matrix", largest_pages[0], pipeline_settings.max_article_bytes)

    report = asyncio.run(ingest_paths([tmp_path / "matrix"], pipeline_settings))
    assert (report.sent, report.dead_lettered, report.failed) == (len(expected), 0, 0)

    tagged = read_topic_sync(pipeline_settings, "tagged", len(expected), timeout=240)
    assert {t["article"]["origin"]: (t["article"]["truncated"], t["truncated"]) for t in tagged} == expected
    assert all(t["entities"] and len(orjson.dumps(t)) <= pipeline_settings.max_message_bytes for t in tagged)
    for stage, role in INPUTS.items():  # every stage has handled all its input: any dead letter is on the topic
        wait_consumed(pipeline_settings, stage, role)
    assert read_to_end(pipeline_settings, "deadletter") == []
    assert [worker.poll() for worker in workers] == [None] * len(STAGES)
