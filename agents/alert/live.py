"""The alert stage's rules while it runs: the rules file, re-read when it changes, plus the `<prefix>.rules` topic.

The topic is compacted and keyed by rule id; a value is one rule as YAML or JSON (the same mapping as an entry of
the file), an empty value or a tombstone removes the rule. Every alert worker reads the whole topic (no consumer
group), so all workers hold the same rules. A topic rule replaces a file rule of the same id. An invalid rule, from
either side, is logged naming the rule, the field and the problem; the other rules keep running, and a file that
cannot be read keeps the rules it had.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import faust
import mode
import yaml
from aiokafka import AIOKafkaConsumer

from agents.rules.ruleset import Rule, RuleError, RulesInvalid, RuleSet, parse_rules, rule_entries
from streams.settings import Settings
from streams.topics import Topics

log = logging.getLogger(__name__)


class LiveRules:
    """The current rule set, rebuilt whenever the file or the rules topic changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file_entries: list[Any] = rule_entries(path)  # unreadable at start: raise, as a worker must not run blind
        self._file_stamp = self._stamp()
        self.topic_entries: dict[str, Any] = {}
        self.current = RuleSet()
        self.by_id: dict[str, Rule] = {}
        self._rebuild("start")

    def reload_file(self) -> bool:
        """Re-read the file if it changed since the last read; True when the rules were rebuilt."""
        stamp = self._stamp()
        if stamp == self._file_stamp:
            return False
        self._file_stamp = stamp
        try:
            self.file_entries = rule_entries(self.path)
        except RulesInvalid as error:
            log.error("rules file unusable; keeping the rules loaded before", extra={"problem": str(error)})
            return False
        self._rebuild("file")
        return True

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the rules topic: set (YAML/JSON mapping) or remove (empty value) the rule `key`."""
        rule_id = key.decode("utf-8", "replace") if key else ""
        if not rule_id:
            log.error("rules topic record without a key (the rule id); ignored")
            return
        if not value or not value.strip():
            self.topic_entries.pop(rule_id, None)
        else:
            try:
                entry = yaml.safe_load(value.decode("utf-8"))
            except (UnicodeDecodeError, yaml.YAMLError) as exc:
                self._report(RuleError(f"'{rule_id}'", "rule", f"not YAML or JSON: {exc}"), "topic")
                return
            if not isinstance(entry, dict) or entry.get("id", rule_id) != rule_id:
                self._report(RuleError(f"'{rule_id}'", "id", "the value must be a rule mapping whose id is the key"),
                             "topic")
                return
            self.topic_entries[rule_id] = {"id": rule_id, **entry}
        self._rebuild("topic")

    def _rebuild(self, cause: str) -> None:
        replaced = set(self.topic_entries)
        kept = [e for e in self.file_entries if not (isinstance(e, dict) and e.get("id") in replaced)]
        ruleset = parse_rules(kept + list(self.topic_entries.values()))
        for problem in ruleset.errors:
            self._report(problem, cause)
        self.current = ruleset
        self.by_id = {rule.id: rule for rule in ruleset}
        log.info("rules loaded", extra={"rules": list(ruleset.ids), "cause": cause, "rules_file": str(self.path)})

    def _report(self, problem: RuleError, cause: str) -> None:
        log.error("rule rejected", extra={"problem": str(problem), "cause": cause})

    def _stamp(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size


class RulesTopicReader(mode.Service):
    """Reads the whole rules topic from its start, then follows it, into `LiveRules.apply` (no consumer group)."""

    def __init__(self, live: LiveRules, topic: str, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.live, self.topic, self.servers = live, topic, settings.bootstrap_servers
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self.consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.servers, group_id=None,
                                         auto_offset_reset="earliest", enable_auto_commit=False)
        await self.consumer.start()

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @mode.Service.task
    async def _follow(self) -> None:
        assert self.consumer is not None
        while not self.should_stop:
            for records in (await self.consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    self.live.apply(record.key, record.value)


def install_live_rules(app: faust.App, topics: Topics, settings: Settings) -> LiveRules:
    """The rules a worker follows: the file, re-read every `WIREWATCH_RULES_RELOAD_SECONDS`, and the rules topic."""
    live = LiveRules(settings.rules_file)
    if isinstance(topics.rules, faust.Topic):  # not when a test replaces the topics with in-memory channels
        app.service(RulesTopicReader(live, topics.rules.get_topic_name(), settings))
    if settings.rules_reload_seconds > 0:
        @app.timer(settings.rules_reload_seconds)
        async def reload_rules() -> None:
            live.reload_file()
    return live
