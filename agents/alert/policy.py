"""The alert stage's house-keeping over its tables, kept out of the agent so that it can be tested on plain dicts:
which stale stories to sweep and when, which alerts the throttle admits, which digests are due on a partition."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from agents.alert.core import AlertThrottle
from agents.alert.digest import Digests
from agents.alert.facts import StoryFacts, stale_stories
from agents.rules.ruleset import Rule
from streams.metrics import ALERTS
from streams.records import Alert
from streams.topics import key_partition

STORY_EXPIRY_SECONDS = 600.0  # how often stale stories leave the story-facts table


class StorySweep:
    """Drops the stories dedup no longer links articles to, one partition at a time, at most every `every` seconds.

    Table writes must come from the stream, so a partition is swept on one of its own events (`sweep`).
    """

    def __init__(self, stories: StoryFacts, partitions: int, retention: float,
                 every: float = STORY_EXPIRY_SECONDS) -> None:
        self.stories, self.partitions, self.retention, self.every = stories, partitions, retention, every
        self._swept: dict[int, float] = {}  # partition → when its stale stories were last dropped (monotonic)

    def sweep(self, partition: int, newest: float, now: float) -> list[str]:
        """Forget `partition`'s stories older than `newest` by the retention, unless it was swept less than `every`
        seconds before `now` (a monotonic clock); returns the story ids forgotten."""
        if now - self._swept.get(partition, -self.every) < self.every:
            return []
        self._swept[partition] = now
        own = ((story_id, entry) for story_id, entry in list(self.stories.stories.items())
               if key_partition(story_id, self.partitions) == partition)
        stale = stale_stories(own, newest, self.retention)
        for story_id in stale:
            self.stories.forget(story_id)
        return stale


class Admission:
    """The alerts each rule's cooldown and throttle let through; those held back are counted as `throttled`."""

    def __init__(self, throttle: AlertThrottle) -> None:
        self.throttle = throttle

    def admitted(self, alerts: Iterable[Alert], rule_by_id: Mapping[str, Rule], at: float) -> list[Alert]:
        """The alerts admitted at article time `at`, in order (each recorded by the throttle)."""
        admitted = []
        for alert in alerts:
            if self.throttle.admit(alert, rule_by_id[alert.rule_id], at):
                admitted.append(alert)
            else:
                ALERTS.labels(alert.rule_id, "all", "throttled").inc()
        return admitted


class PartitionDigests(Digests):
    """The digests of one worker's partitions of the digest topic, which is keyed by rule id."""

    def __init__(self, waiting: MutableMapping[str, dict[str, Any]], partitions: int) -> None:
        super().__init__(waiting)
        self.partitions = partitions

    def due_on(self, partition: int, rules: Mapping[str, Rule], now: float) -> list[tuple[str, Alert | None]]:
        """(rule id, its digest) of the due rules on `partition`; None for a rule that is gone (see `Digests.due`)."""
        return self.due(rules, now, lambda rule_id: key_partition(rule_id, self.partitions) == partition)

    async def send_due(self, partition: int, rules: Mapping[str, Rule], now: float,
                       deliver: Callable[[Alert, Rule], Awaitable[None]]) -> list[Alert]:
        """`deliver` each digest due on `partition`, then start its rule's next period; returns the digests sent.

        A period ends only once its digest was delivered, so a crash in between sends the same digest again.
        """
        sent = []
        for rule_id, digest in self.due_on(partition, rules, now):
            if digest is not None:  # None: the rule is gone; its alerts are on the alerts topic
                await deliver(digest, rules[rule_id])
                sent.append(digest)
            self.sent(rule_id)
        return sent
