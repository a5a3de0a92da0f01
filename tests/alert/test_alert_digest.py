"""Digests: a rule's alerts kept per rule and sent as one message when its period has run out."""
from __future__ import annotations

import yaml

from agents.alert.digest import MEMBERS_KEPT, Digests, digest_alert
from agents.rules.ruleset import Rule, parse_rules
from tests.sink_fixtures import full_alert


def digest_rules(digest: str = "15m") -> dict[str, Rule]:
    rules = parse_rules([yaml.safe_load(f"{{id: korea-summit, description: d, when: {{keywords: [Kim]}}, "
                                        f"triggers: [new_story], digest: {digest}}}")])
    assert not rules.errors, rules.errors
    return {rule.id: rule for rule in rules}


def test_alerts_wait_until_the_period_from_the_first_has_run_out() -> None:
    digests, rules = Digests({}), digest_rules("15m")
    digests.add(full_alert(idempotency_key="a" * 64), now=1000.0)
    digests.add(full_alert(idempotency_key="b" * 64, trigger="new_story", title="Kim to meet Trump"), now=1500.0)
    assert digests.due(rules, now=1000.0 + 899) == []
    [(rule_id, summary)] = digests.due(rules, now=1000.0 + 900)
    assert (rule_id, summary.trigger, summary.title) == ("korea-summit", "digest", "2 alerts for korea-summit")
    assert summary.members == ["a" * 64, "b" * 64]
    assert summary.new_sentences[1].startswith("new story: Kim to meet Trump — Bloomberg <https://")
    digests.sent("korea-summit")
    assert digests.waiting == {}


def test_a_replayed_alert_is_kept_once_and_the_digest_key_is_stable() -> None:
    digests, rules = Digests({}), digest_rules("1m")
    for key in ["a" * 64, "b" * 64, "a" * 64]:
        digests.add(full_alert(idempotency_key=key), now=0.0)
    [(_, first)] = digests.due(rules, now=60.0)
    [(_, again)] = digests.due(rules, now=99.0)  # not sent yet (a crash): the same digest, the same key
    assert len(first.members) == 2 and first.idempotency_key == again.idempotency_key


def test_only_owned_rules_are_due_and_a_removed_rule_is_dropped() -> None:
    digests = Digests({})
    digests.add(full_alert(rule_id="gone"), now=0.0)
    digests.add(full_alert(), now=0.0)
    assert digests.due(digest_rules("1m"), now=60.0, owned=lambda rule_id: rule_id == "gone") == [("gone", None)]


def test_a_long_digest_lists_the_first_alerts_and_counts_the_rest() -> None:
    digests, rules = Digests({}), digest_rules("1m")
    for n in range(MEMBERS_KEPT + 5):
        digests.add(full_alert(idempotency_key=f"{n:064x}"), now=0.0)
    [(_, summary)] = digests.due(rules, now=60.0)
    assert summary.title == f"{MEMBERS_KEPT + 5} alerts for korea-summit"
    assert len(summary.new_sentences) == MEMBERS_KEPT and "5 more not listed" in summary.detail


def test_a_bad_digest_period_is_refused_with_the_rule_and_field() -> None:
    rules = parse_rules([{"id": "r", "description": "d", "when": {"keywords": ["x"]}, "triggers": ["new_story"],
                          "digest": "soon"}])
    assert [(e.rule, e.field) for e in rules.errors] == [("'r'", "digest")]
    assert digest_alert(digest_rules("1m")["korea-summit"], [full_alert()], 0, now=5.0).created_at == 5.0
