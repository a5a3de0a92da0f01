"""Digests: a rule with `digest: 15m` reaches its people as one message per period instead of one per alert.

Every alert still goes to the alerts topic as it fires (the record); the rule's other channels get the digest.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from agents.rules.ruleset import Rule
from agents.sinks.text import trigger_words
from streams.records import DIGEST_TRIGGER, Alert

MEMBERS_KEPT = 200  # alerts listed in one digest; more are counted, and all of them are on the alerts topic


class Digests:
    """Per rule, the alerts waiting for its next digest; the period runs from the first alert that waits.

    `waiting` maps rule id → {"opened": unix seconds, "alerts": [alert, …], "more": count beyond MEMBERS_KEPT}; in
    production the digest agent's Faust table (its topic is keyed by rule id), in tests a dict. An entry is removed
    only after its digest was delivered, so a crash in between sends the same digest (same key) again.
    """

    def __init__(self, waiting: MutableMapping[str, dict[str, Any]]) -> None:
        self.waiting = waiting

    def add(self, alert: Alert, now: float) -> None:
        """Keep `alert` for its rule's next digest; a replayed alert is kept once."""
        entry = self.waiting.get(alert.rule_id) or {"opened": now, "alerts": [], "more": 0}
        if any(kept["idempotency_key"] == alert.idempotency_key for kept in entry["alerts"]):
            return
        if len(entry["alerts"]) < MEMBERS_KEPT:
            entry = {**entry, "alerts": [*entry["alerts"], alert.asdict()]}
        else:
            entry = {**entry, "more": entry["more"] + 1}
        self.waiting[alert.rule_id] = entry

    def due(self, rules: Mapping[str, Rule], now: float, owned: Callable[[str], bool] = lambda _: True,
            ) -> list[tuple[str, Alert | None]]:
        """(rule id, its digest) for each owned rule whose period has run out; None for a rule that is gone."""
        ready = []
        for rule_id, entry in list(self.waiting.items()):
            if not entry or not owned(rule_id):
                continue
            rule = rules.get(rule_id)
            if rule is None:
                ready.append((rule_id, None))
            elif now - entry["opened"] >= rule.digest:
                members = [Alert.from_data(kept) for kept in entry["alerts"]]
                ready.append((rule_id, digest_alert(rule, members, entry["more"], now)))
        return ready

    def sent(self, rule_id: str) -> None:
        """The rule's digest was delivered (or its rule is gone): start a new period with its next alert."""
        self.waiting.pop(rule_id, None)


def digest_alert(rule: Rule, members: Sequence[Alert], more: int, now: float) -> Alert:
    """One alert standing for `members`: a line per alert, their entities, a key derived from theirs."""
    keys = sorted(member.idempotency_key for member in members)
    count = len(members) + more
    lines = [f"{trigger_words(m.trigger)}: {m.title}" + (f" — {m.source}" if m.source else "")
             + (f" <{m.url}>" if m.url else "") for m in members]
    entities = list(dict.fromkeys(name for m in members for name in m.matched_entities))
    keywords = list(dict.fromkeys(word for m in members for word in m.matched_keywords))
    return Alert(
        idempotency_key=hashlib.sha256(f"{rule.id}|{DIGEST_TRIGGER}|{'|'.join(keys)}".encode()).hexdigest(),
        rule_id=rule.id, description=rule.description, trigger=DIGEST_TRIGGER, story_id="", article_id="",
        title=f"{count} alert{'s' * (count != 1)} for {rule.id}", verdict="", matched_entities=entities,
        matched_keywords=keywords, new_sentences=lines, members=keys,
        detail=f"the rule's alerts of about {max(round(rule.digest / 60), 1)} min, in one message"
               + (f"; {more} more not listed (see the alerts topic)" if more else ""),
        created_at=now, ingested_at=min((m.ingested_at for m in members if m.ingested_at), default=0.0))
