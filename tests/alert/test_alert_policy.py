"""The alert stage's house-keeping on plain dicts: the stale-story sweep, throttle admission, digests per partition."""
from __future__ import annotations

import asyncio

import yaml

from agents.alert.core import AlertThrottle
from agents.alert.facts import StoryFacts
from agents.alert.policy import Admission, PartitionDigests, StorySweep
from agents.rules.ruleset import Rule, parse_rules
from streams.metrics import ALERTS
from streams.records import Alert
from streams.topics import key_partition
from tests.sink_fixtures import full_alert

PARTITIONS = 4


def rule_by_id(extra: str = "") -> dict[str, Rule]:
    rules = parse_rules([yaml.safe_load(f"{{id: korea-summit, description: d, when: {{keywords: [Kim]}}, "
                                        f"triggers: [new_development]{extra}}}")])
    assert not rules.errors, rules.errors
    return {rule.id: rule for rule in rules}


def stories_on(partition: int, count: int) -> list[str]:
    """`count` story ids whose entries live on `partition`."""
    found = (f"story-{n}" for n in range(1000) if key_partition(f"story-{n}", PARTITIONS) == partition)
    return [next(found) for _ in range(count)]


def test_a_sweep_forgets_only_its_partitions_stale_stories_and_waits_its_period_before_the_next() -> None:
    old, recent = stories_on(0, 2)
    [elsewhere] = stories_on(1, 1)
    table = {old: {"seen": 0.0}, recent: {"seen": 5000.0}, elsewhere: {"seen": 0.0}}
    sweep = StorySweep(StoryFacts(table), PARTITIONS, retention=3600.0, every=600.0)
    assert sweep.sweep(0, newest=6000.0, now=100.0) == [old]
    assert set(table) == {recent, elsewhere}
    table[old] = {"seen": 0.0}
    assert sweep.sweep(0, newest=6000.0, now=699.0) == []  # swept 599 s ago
    assert sweep.sweep(1, newest=6000.0, now=699.0) == [elsewhere]  # each partition has its own period
    assert sweep.sweep(0, newest=6000.0, now=700.0) == [old]


def test_admission_keeps_the_order_and_counts_each_alert_the_cooldown_holds_back_as_throttled() -> None:
    rules = rule_by_id(", cooldown: 1h")
    admission = Admission(AlertThrottle({}))
    throttled = ALERTS.labels("korea-summit", "all", "throttled")
    before = throttled._value.get()
    first, second = full_alert(idempotency_key="a" * 64), full_alert(idempotency_key="b" * 64)
    other_story = full_alert(idempotency_key="c" * 64, story_id="story-other")
    assert admission.admitted([first, second, other_story], rules, at=1000.0) == [first, other_story]
    assert throttled._value.get() == before + 1
    assert admission.admitted([full_alert(idempotency_key="d" * 64)], rules, at=1000.0 + 3600) != []


def test_only_the_digests_of_rules_on_the_ticked_partition_are_sent_and_their_period_restarts() -> None:
    rules = rule_by_id(", digest: 1m")
    digests = PartitionDigests({}, PARTITIONS)
    digests.add(full_alert(), now=0.0)
    delivered: list[tuple[Alert, Rule]] = []

    async def deliver(digest: Alert, rule: Rule) -> None:
        delivered.append((digest, rule))

    home = key_partition("korea-summit", PARTITIONS)
    assert asyncio.run(digests.send_due((home + 1) % PARTITIONS, rules, 60.0, deliver)) == []
    assert asyncio.run(digests.send_due(home, rules, 59.0, deliver)) == []  # its minute has not run out
    assert "korea-summit" in digests.waiting and delivered == []
    [sent] = asyncio.run(digests.send_due(home, rules, 60.0, deliver))
    assert [(digest.trigger, rule.id) for digest, rule in delivered] == [("digest", "korea-summit")]
    assert sent is delivered[0][0] and digests.waiting == {}  # the next alert opens a new period


def test_a_gone_rules_digest_is_dropped_on_its_own_partition_without_a_delivery() -> None:
    digests = PartitionDigests({}, PARTITIONS)
    digests.add(full_alert(rule_id="gone"), now=0.0)
    delivered: list[Alert] = []

    async def deliver(digest: Alert, rule: Rule) -> None:
        delivered.append(digest)

    others = [p for p in range(PARTITIONS) if p != key_partition("gone", PARTITIONS)]
    assert all(asyncio.run(digests.send_due(p, {}, 60.0, deliver)) == [] for p in others)
    assert "gone" in digests.waiting  # another partition's rule is left alone
    assert asyncio.run(digests.send_due(key_partition("gone", PARTITIONS), {}, 60.0, deliver)) == []
    assert digests.waiting == {} and delivered == []
