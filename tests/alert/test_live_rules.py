"""Rules that change while the alert stage runs: the rules file is re-read, the rules topic is followed."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from agents.alert.live import LiveRules
from streams.settings import Settings
from tests.alert.tagged_articles import article
from tests.conftest import wait_for
from tests.kafka_io import produce, read_topic_sync

OIL = "- {id: oil, description: Oil, when: {keywords: [crude oil]}, triggers: [new_story]}\n"
GOLD = "- {id: gold, description: Gold, when: {keywords: [gold]}, triggers: [new_story]}\n"


def write_rules(path: Path, *rules: str) -> None:
    """Write the rules file and move its modification time on, so a check in the same instant sees the change."""
    path.write_text("rules:\n" + "".join(rules), encoding="utf-8")
    stamp = time.time_ns() + 10**9 * (1 + len(rules))
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    write_rules(path, OIL)
    return path


def test_the_file_is_read_again_only_when_it_changed_and_a_broken_one_keeps_the_rules(
        rules_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    live = LiveRules(rules_file)
    assert live.current.ids == ("oil",)
    assert not live.reload_file()
    write_rules(rules_file, OIL, GOLD)
    assert live.reload_file() and live.current.ids == ("oil", "gold")
    rules_file.write_text("rules: [unclosed", encoding="utf-8")
    os.utime(rules_file, ns=(time.time_ns() + 10**10,) * 2)
    with caplog.at_level(logging.ERROR):
        assert not live.reload_file()
    assert live.current.ids == ("oil", "gold")
    assert "rules file unusable" in caplog.text and "rules: [unclosed" in caplog.records[-1].__dict__["problem"]


def test_topic_rules_add_replace_and_remove_and_bad_ones_are_reported(
        rules_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    live = LiveRules(rules_file)
    live.apply(b"gold", b'{"description": "Gold", "when": {"keywords": ["gold"]}, "triggers": ["new_story"]}')
    live.apply(b"oil", b"{description: Oil and gas, when: {keywords: [gas]}, triggers: [new_story]}")
    assert live.current.ids == ("gold", "oil")
    assert live.by_id["oil"].description == "Oil and gas"  # the topic's rule replaces the file's
    with caplog.at_level(logging.ERROR):
        live.apply(b"bad", b"{description: x, when: {keywords: []}, triggers: [new_story]}")
        live.apply(b"worse", b"{not yaml: [")
        live.apply(b"other", b"{id: elsewhere, description: x, when: {keywords: [x]}, triggers: [new_story]}")
    problems = " | ".join(getattr(record, "problem", "") for record in caplog.records)
    assert "rule 'bad': field 'when.keywords': must be a non-empty list" in problems
    assert "rule 'worse': field 'rule': not YAML or JSON" in problems
    assert "rule 'other': field 'id'" in problems
    assert live.current.ids == ("gold", "oil")
    live.apply(b"oil", None)  # tombstone: the file's rule is back
    live.apply(b"gold", b"")
    assert live.current.ids == ("oil",) and live.by_id["oil"].description == "Oil"


@pytest.mark.integration
def test_a_running_alert_worker_takes_rules_from_the_topic_and_the_changed_file(
        spawn_worker, pipeline_settings: Settings, rules_file: Path) -> None:
    settings = Settings.from_env({}, **{**pipeline_settings.__dict__, "rules_file": rules_file,
                                        "rules_reload_seconds": 0.5})
    worker = spawn_worker("alert", settings)
    log = Path(worker.log_path)

    def loaded(cause: str, rule: str) -> bool:
        return any(f'"cause":"{cause}"' in line and f'"{rule}"' in line for line in log.read_text().splitlines())

    asyncio.run(produce(settings, "rules", [
        (b"gold", b"{description: Gold, when: {keywords: [gold]}, triggers: [new_story]}")]))
    wait_for(lambda: loaded("topic", "gold"), 60, "the rule from the topic")
    write_rules(rules_file, OIL, "- {id: wheat, description: Wheat, when: {keywords: [wheat]}, "
                                  "triggers: [new_story]}\n")
    wait_for(lambda: loaded("file", "wheat"), 30, "the changed rules file")
    stories = [article("Gold rose.", story="s1", article_id="s1"), article("Wheat fell.", story="s2", article_id="s2"),
               article("Crude oil rose.", story="s3", article_id="s3")]
    asyncio.run(produce(settings, "tagged", [(t.verdict.story_id.encode(), t.dumps()) for t in stories]))
    alerts = read_topic_sync(settings, "alerts", 3, timeout=60)
    assert sorted((a["rule_id"], a["story_id"]) for a in alerts) == [("gold", "s1"), ("oil", "s3"), ("wheat", "s2")]
