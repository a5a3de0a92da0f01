"""The rule language's matching engine: phrases without regexes, languages, the atom index, cooldown and throttle."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.alert.core import AlertThrottle, alerts_for
from agents.alert.facts import StoryFacts
from agents.rules.conditions import ArticleView, Keywords
from agents.rules.ruleset import parse_rules
from streams.records import Alert, EntitySignal
from streams.settings import Settings
from tests.alert.tagged_articles import article, fired, ruleset
from tests.conftest import stage_app, value_of
from tests.sink_fixtures import alerts_counted


def test_phrases_match_whole_words_across_punctuation_and_case() -> None:
    rules = ruleset("{keywords: [crude oil]}", "{keywords: ['U.S. sanctions']}", "{keywords: [oil]}",
                    "{keywords: [crude oils]}")
    tagged = article("Brent CRUDE, oil prices rose after new U.S. sanctions; crude-oil stocks fell.")
    assert fired(rules, tagged) == ["r0", "r1", "r2"]
    assert fired(rules, article("Crudeoil and boiling")) == []


class CountedWords(tuple[str, ...]):
    """An article's words that count the runs of words sliced out of them: one per phrase comparison."""

    slices = 0

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            self.slices += 1
        return super().__getitem__(index)


def test_a_long_repetitive_phrase_costs_one_comparison_per_occurrence() -> None:
    # The pattern that makes backtracking regex engines blow up; here it is a word sequence compared at each "a",
    # and the other words of the text cost nothing.
    words_of_phrase = " ".join(["a"] * 40) + " b"
    phrase, rules = Keywords.of([words_of_phrase]), ruleset(f"{{keywords: ['{words_of_phrase}']}}")
    for text, found in [(["z"] * 5000 + ["a"] * 5000, False), (["z"] * 5000 + ["a"] * 5000 + ["b"], True)]:
        view = ArticleView(article(" ".join(text)))
        view.words = words = CountedWords(view.words)
        words.slices = 0
        assert (phrase.match(view) is not None) is found
        assert 0 < words.slices <= text.count("a"), (words.slices, text.count("a"))
        assert fired(rules, article(" ".join(text))) == (["r0"] if found else [])


def test_languages_match_the_detected_language() -> None:
    rules = ruleset("{languages: [de, fr]}", "{all: [{keywords: [Merkel]}, {not: {languages: [en]}}]}")
    assert fired(rules, article("Merkel sprach.", language="de")) == ["r0", "r1"]
    assert fired(rules, article("Merkel spoke.", language="en")) == []


WORDS = ["oil", "gold", "opec", "merkel", "bank", "rates", "china", "wheat"]
CONDITIONS = st.recursive(
    st.one_of(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(lambda ws: {"keywords": [" ".join(ws)]}),
        st.sampled_from(["Acme", "Zeta Bank"]).map(lambda n: {"entities": [n]}),
        st.sampled_from(["Reuters", "AP"]).map(lambda n: {"sources": [n]}),
        st.sampled_from(["en", "de"]).map(lambda c: {"languages": [c]})),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda cs: {"all": cs}),
        st.lists(children, min_size=1, max_size=3).map(lambda cs: {"any": cs}),
        children.map(lambda c: {"not": c})),
    max_leaves=5)


@settings(max_examples=150, deadline=None)
@given(st.lists(CONDITIONS, min_size=1, max_size=8), st.integers(0, 2**32))
def test_the_atom_index_never_skips_a_rule_that_matches(conditions: list[dict], seed: int) -> None:
    rules = parse_rules([{"id": f"r{n}", "description": "d", "when": c, "triggers": ["new_story"]}
                         for n, c in enumerate(conditions)])
    assert not rules.errors
    rng = random.Random(seed)
    body = " ".join(rng.choices(WORDS, k=6)) + " Acme"
    tagged = article(body, source=rng.choice(["Reuters", "AP", "UPI"]), language=rng.choice(["en", "de"]),
                     names={"Acme": "Acme"} if rng.random() < 0.5 else None)
    view = ArticleView(tagged)
    matching = [rule for rule in rules if rule.match(view) is not None]
    candidates = rules.candidates(view)
    assert all(rule in candidates for rule in matching)


def test_rules_without_any_of_the_articles_atoms_are_not_evaluated() -> None:
    rules = ruleset(*[f"{{keywords: [word{n}]}}" for n in range(1000)], "{not: {sources: [AP]}}")
    view = ArticleView(article("Nothing about word17 here, nor word999."))
    assert [rule.id for rule in rules.candidates(view)] == ["r17", "r999", "r1000"]


def test_cooldown_holds_a_story_back_and_a_replay_is_admitted_again() -> None:
    rules = ruleset("{keywords: [oil]}", extra=", cooldown: 2h, min_new_facts: 1")
    throttle = AlertThrottle({})
    rule = rules.rules[0]

    def admitted(fact: str, hour: int) -> bool:
        tagged = article(f"oil. {fact}", hour=hour, adds=fact)
        [alert] = alerts_for(tagged, rules, StoryFacts({}), now=0.0)
        assert tagged.article.published is not None
        return throttle.admit(alert, rule, tagged.article.published.timestamp())

    assert admitted("Oil rose 3%.", 7)
    assert not admitted("Oil fell 2%.", 8)   # within 2 h of the last admitted alert of the story
    assert admitted("Oil rose 3%.", 8)       # the first alert itself, replayed: admitted again
    assert admitted("Oil jumped 9%.", 9)
    assert list(throttle.raised) == ["r0:s1"]


def test_throttle_allows_at_most_max_per_window() -> None:
    rules = ruleset("{keywords: [oil]}", extra=", throttle: {max: 2, per: 1h}, min_new_facts: 1")
    throttle, rule = AlertThrottle({}), rules.rules[0]
    admitted = []
    for minute in [0, 10, 20, 61, 65]:  # at 65 the last hour holds 10 and 61
        [alert] = alerts_for(article("oil", adds=f"Oil rose {minute}%."), rules, StoryFacts({}), now=0.0)
        admitted.append(throttle.admit(alert, rule, 60.0 * minute))
    assert admitted == [True, True, False, True, False]
    assert len(throttle.raised["r0:s1"]) == 2


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), (45, 45)])
def test_durations(text: object, seconds: float) -> None:
    rules = parse_rules([{"id": "r", "description": "d", "when": {"keywords": ["x"]}, "triggers": ["new_story"],
                          "cooldown": text}])
    assert rules.rules[0].cooldown == seconds


async def test_the_alert_stage_turns_a_signal_into_one_alert(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n- {id: pair, description: Acme meets Zeta, when: {entities: [Acme, Zeta]}, "
                     "triggers: [first_co_mention], channels: [topic]}\n", encoding="utf-8")
    app, topics, _ = stage_app("alert", Settings.from_env({}, rules_file=rules))
    alerts = topics.alerts.__aiter__()
    signal = EntitySignal(rule_id="pair", trigger="first_co_mention", development="pair:org:acme|org:zeta:t",
                          entities=["Acme", "Zeta"], detail="Acme and Zeta together for the first time",
                          article_id="a1", story_id="s1", seen="2019-06-30T07:00:00Z", title="Acme buys Zeta")
    async with app.agents["alert-signals"].test_context() as agent:
        await agent.put(signal.dumps(), key=b"s1")
        await agent.put(signal.dumps(), key=b"s1")  # re-delivered: the ledger has it
        await agent.put(signal.derive(rule_id="gone").dumps(), key=b"s1")  # its rule was removed meanwhile
        await agent.put(b"{}", key=b"s1")
        alert = value_of(await alerts.get(timeout=5), Alert)
        assert (alert.rule_id, alert.trigger, alert.story_id, alert.matched_entities) == (
            "pair", "first_co_mention", "s1", ["Acme", "Zeta"])
        assert alert.detail == signal.detail and alert.title == "Acme buys Zeta"
        assert [len(r) if isinstance(r, list) else r.reason for r in agent.results.values()] == [
            1, 0, 0, "invalid_record"]


async def test_the_alert_stage_holds_back_what_a_cooldown_holds_and_counts_it_throttled(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n- {id: oil-cooldown, description: Oil, when: {keywords: [oil]}, "
                     "triggers: [new_story, new_development], channels: [topic], cooldown: 2h, min_new_facts: 1}\n",
                     encoding="utf-8")
    app, _topics, _ = stage_app("alert", Settings.from_env({}, rules_file=rules))
    before = alerts_counted("oil-cooldown", "all", "throttled")
    async with app.agents["alert"].test_context() as agent:
        await agent.put(article("Oil rose 3%.", hour=7).dumps(), key=b"s1")
        await agent.put(article("Oil rose 3%. Oil fell 2%.", hour=8, adds="Oil fell 2%.", article_id="a2").dumps(),
                        key=b"s1")  # within 2 h of the story's alert
        await agent.put(article("Oil jumped 9%.", hour=10, adds="Oil jumped 9%.", article_id="a3").dumps(), key=b"s1")
        assert [[a.trigger for a in sent] for sent in agent.results.values()] == [
            ["new_story"], [], ["new_development"]]
    assert alerts_counted("oil-cooldown", "all", "throttled") - before == 1
