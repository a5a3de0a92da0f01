"""Alert rules and the alert core, on the seed story (Trump invites Kim Jong Un to the DMZ)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from agents.alert.core import AlertLedger, alerts_for
from agents.alert.facts import StoryFacts, stale_stories
from agents.rules.ruleset import RuleSet, RulesInvalid, load_rules, parse_rules
from streams.records import CleanArticle, DedupVerdict, EntityMention, TaggedArticle
from streams.settings import DEFAULTS

EXAMPLE_RULES = DEFAULTS / "rules.example.yaml"

# What a tagger would find in the seeds: the name as written → (canonical, label).
SEED_ENTITIES = {
    "Donald Trump": ("Donald Trump", "PERSON"), "Trump": ("Donald Trump", "PERSON"),
    "Kim Jong Un": ("Kim Jong Un", "PERSON"), "Kim": ("Kim Jong Un", "PERSON"),
    "North Korea": ("North Korea", "GPE"), "South Korea": ("South Korea", "GPE"),
    "Moon Jae-in": ("Moon Jae-in", "PERSON"), "Choe Son Hui": ("Choe Son Hui", "PERSON"),
    "Japan": ("Japan", "GPE"), "Osaka": ("Osaka", "GPE"), "Victor Cha": ("Victor Cha", "PERSON"),
    "Ko Min-jung": ("Ko Min-jung", "PERSON"), "Mohammed bin Salman": ("Mohammed bin Salman", "PERSON"),  # only in v2
}
UPDATE_FACTS = [
    "North Korean foreign ministry official Choe Son Hui said Trump’s invitation was “a very interesting "
    "suggestion, but we have not received an official proposal in this regard.”",
    "The United Nations forces and North Korean military are discussing details of a possible Trump-Kim meeting, "
    "Channel A reports, citing an unidentified government official.",
]
NOT_A_FACT = "They’re trying to work it out."


def tag(article: CleanArticle, verdict: DedupVerdict) -> TaggedArticle:
    """The article with every `SEED_ENTITIES` mention tagged, longest names first."""
    names = sorted(SEED_ENTITIES, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")
    mentions = [EntityMention(start=m.start(), end=m.end(), text=m.group(), label=SEED_ENTITIES[m.group()][1],
                              canonical=SEED_ENTITIES[m.group()][0]) for m in pattern.finditer(article.full_text)]
    return TaggedArticle(article=article, verdict=verdict, entities=mentions)


def seed_article(text: str, article_id: str, source: str) -> CleanArticle:
    """A clean article from a seed file: first line the title, the other non-empty lines paragraphs."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return CleanArticle(id=article_id, title=lines[0], paragraphs=lines[1:4], source=source,
                        url=f"https://news.example/{article_id}", ingested_at=1561800000.5)


@pytest.fixture
def bloomberg(seed_texts: list[str]) -> CleanArticle:
    return seed_article(seed_texts[0], "bloomberg-v1", "Bloomberg")


@pytest.fixture
def new_story(bloomberg: CleanArticle) -> TaggedArticle:
    return tag(bloomberg, DedupVerdict(kind="new", story_id="story-dmz"))


def development(bloomberg: CleanArticle, added: list[str], kind: str = "update") -> TaggedArticle:
    verdict = DedupVerdict(kind=kind, story_id="story-dmz", similarity=0.6, matched_id="bloomberg-v1",
                           added_sentences=added)
    return tag(bloomberg.derive(id="bloomberg-v2"), verdict)


def rules_from(text: str) -> RuleSet:
    return parse_rules(yaml.safe_load(text)["rules"])


def one_rule(when: str, triggers: str = "[new_story, new_development]") -> RuleSet:
    ruleset = rules_from(f"rules:\n- id: r\n  description: d\n  when: {when}\n  triggers: {triggers}\n")
    assert not ruleset.errors, ruleset.errors
    return ruleset


def matches(when: str, article: TaggedArticle) -> tuple[list[str], list[str]] | None:
    found = one_rule(when).rules[0].match(article)
    return None if found is None else (list(found.matched_entities), list(found.matched_keywords))


# --- rules -----------------------------------------------------------------------------------------------------


def test_example_rules_load_and_only_korea_summit_fires_on_the_seed(new_story: TaggedArticle) -> None:
    ruleset = load_rules(EXAMPLE_RULES, strict=True)
    assert len(ruleset.ids) >= 3
    fired = {rule.id: rule.match(new_story) for rule in ruleset}
    assert {rule_id for rule_id, found in fired.items() if found} == {"korea-summit"}
    assert set(fired["korea-summit"].matched_entities) == {"Kim Jong Un", "North Korea"}


def test_entities_match_canonical_names_and_names_as_written_case_insensitively(new_story: TaggedArticle) -> None:
    assert matches('{entities: ["kim jong un"]}', new_story) == (["Kim Jong Un"], [])
    assert matches('{entities: ["KIM"]}', new_story) == (["Kim Jong Un"], [])  # "Kim" as written
    assert matches('{entities: ["Kim Jong-un"]}', new_story) is None


def test_entity_label_must_agree_when_given(new_story: TaggedArticle) -> None:
    assert matches('{entities: [{name: North Korea, label: gpe}]}', new_story) == (["North Korea"], [])
    assert matches('{entities: [{name: North Korea, label: PERSON}]}', new_story) is None


def test_entity_aliases_name_the_same_entity(bloomberg: CleanArticle) -> None:
    article = TaggedArticle(article=bloomberg, verdict=DedupVerdict(kind="new", story_id="s"), entities=[
        EntityMention(start=0, end=4, text="DPRK", label="GPE", canonical="DPRK")])
    assert matches('{entities: [{name: North Korea, aliases: [DPRK]}]}', article) == (["DPRK"], [])
    assert matches('{entities: [North Korea]}', article) is None


def test_keywords_match_whole_words_and_phrases_only(new_story: TaggedArticle) -> None:
    assert matches("{keywords: [dmz, Shake Hands]}", new_story) == ([], ["dmz", "Shake Hands"])
    assert matches("{keywords: [Kore, militarized Zone]}", new_story) is None  # parts of words


def test_keywords_are_literal_text_not_patterns(seed_texts: list[str]) -> None:
    reuters = tag(seed_article(seed_texts[1], "reuters", "Reuters"), DedupVerdict(kind="new", story_id="s"))
    reuters = tag(reuters.article.derive(paragraphs=[seed_texts[1]]), reuters.verdict)
    assert matches('{keywords: ["Hello(?)"]}', reuters) == ([], ["Hello(?)"])  # "say Hello(?)!" in the tweet
    assert matches('{keywords: ["Hell.(?)"]}', reuters) is None


def test_sources_and_combinators(new_story: TaggedArticle) -> None:
    assert matches("{sources: [bloomberg]}", new_story) == ([], [])
    assert matches("{sources: [Reuters]}", new_story) is None
    assert matches("{not: {sources: [Reuters]}}", new_story) == ([], [])
    assert matches("{any: [{sources: [Reuters]}, {keywords: [DMZ]}]}", new_story) == ([], ["DMZ"])
    assert matches("{all: [{entities: [Kim]}, {sources: [Reuters]}]}", new_story) is None
    assert matches("{all: [{entities: [Kim]}, {keywords: [Twitter]}]}", new_story) == (["Kim Jong Un"], ["Twitter"])


def test_several_keys_in_one_condition_must_all_hold(new_story: TaggedArticle) -> None:
    assert matches("{entities: [Kim], keywords: [DMZ]}", new_story) == (["Kim Jong Un"], ["DMZ"])
    assert matches("{entities: [Kim], keywords: [OPEC]}", new_story) is None


def test_a_bad_rule_is_reported_by_id_field_and_problem_and_the_others_still_load(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("""rules:
- {id: korea-summit, description: Korea, when: {entities: [Kim Jong Un]}, triggers: [new_story]}
- {id: korea, description: Korea again, when: {keywords: [DMZ]}, triggers: [new_story, sometimes]}
""")
    ruleset = load_rules(path)
    assert ruleset.ids == ("korea-summit",)
    assert [str(e) for e in ruleset.errors] == ["rule 'korea': field 'triggers': unknown trigger 'sometimes'"]
    with pytest.raises(RulesInvalid, match="unknown trigger 'sometimes'"):
        load_rules(path, strict=True)


@pytest.mark.parametrize("rule, expected", [
    ("{id: Korea Summit, description: d, when: {keywords: [x]}, triggers: [new_story]}",
     "rule 'Korea Summit': field 'id': 'Korea Summit' is not a string of [a-z0-9_-]"),
    ("{description: d, when: {keywords: [x]}, triggers: [new_story]}", "rule #2: field 'id': None is not"),
    ("{id: a, description: d, when: {keywords: [x]}, triggers: [new_story]}", "rule 'a': field 'id': duplicate id"),
    ("{id: b, description: d, when: {keywords: [x]}, trigger: [new_story]}", "rule 'b': field 'trigger': unknown"),
    ("{id: b, description: d, when: {entity: [Kim]}, triggers: [new_story]}",
     "rule 'b': field 'when.entity': unknown condition"),
    ("{id: b, description: d, when: {keywords: [x]}, triggers: [new_story], channels: [sms]}",
     "rule 'b': field 'channels': unknown channel 'sms'"),
    ("{id: b, description: d, when: {any: [{keywords: [x]}, {keywords: []}]}, triggers: [new_story]}",
     "rule 'b': field 'when.any[1].keywords': must be a non-empty list"),
    ("{id: b, description: d, when: {keywords: ['.*']}, triggers: [new_story]}",
     "rule 'b': field 'when.keywords': keyword '.*' has no letters or digits"),
    ("{id: b, description: '', when: {keywords: [x]}, triggers: [new_story]}", "rule 'b': field 'description'"),
    ("{id: b, description: d, triggers: [new_story]}", "rule 'b': field 'when': missing"),
    ("{id: b, description: d, when: {languages: [english]}, triggers: [new_story]}",
     "rule 'b': field 'when.languages': 'english' is not a language code"),
    ("{id: b, description: d, when: {keywords: [x]}, triggers: [new_story], cooldown: soon}",
     "rule 'b': field 'cooldown': 'soon' is not a duration"),
    ("{id: b, description: d, when: {keywords: [x]}, triggers: [new_story], throttle: {max: 0, per: 1h}}",
     "rule 'b': field 'throttle': max must be a whole number"),
    ("{id: b, description: d, when: {keywords: [x]}, triggers: [new_story], throttle: {max: 2}}",
     "rule 'b': field 'throttle': expected a mapping {max: N, per: DURATION}"),
])
def test_invalid_rules_say_what_is_wrong(rule: str, expected: str) -> None:
    ruleset = rules_from(f"rules:\n- {{id: a, description: d, when: {{keywords: [x]}}, triggers: [new_story]}}\n"
                         f"- {rule}\n")
    assert ruleset.ids == ("a",)
    assert any(str(error).startswith(expected) for error in ruleset.errors), ruleset.errors


def test_a_file_without_rules_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rule:\n- id: a\n")
    with pytest.raises(RulesInvalid, match="'rules:' list"):
        load_rules(path)


# --- alerts ----------------------------------------------------------------------------------------------------


def test_a_new_story_alert_explains_itself(new_story: TaggedArticle) -> None:
    [alert] = alerts_for(new_story, load_rules(EXAMPLE_RULES), StoryFacts({}), now=1561800001.0)
    assert (alert.rule_id, alert.trigger, alert.verdict) == ("korea-summit", "new_story", "new")
    assert alert.idempotency_key == hashlib.sha256(b"korea-summit|story-dmz|new_story").hexdigest()
    assert (alert.story_id, alert.article_id, alert.source) == ("story-dmz", "bloomberg-v1", "Bloomberg")
    assert alert.title == "Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend"
    assert alert.url == "https://news.example/bloomberg-v1"
    assert "Kim Jong Un" in alert.matched_entities
    assert "Kim Jong Un or North Korea" in alert.description
    assert (alert.created_at, alert.ingested_at) == (1561800001.0, 1561800000.5)


def test_an_update_with_facts_is_a_new_development_with_only_the_facts(bloomberg: CleanArticle) -> None:
    update = development(bloomberg, [UPDATE_FACTS[0], NOT_A_FACT, UPDATE_FACTS[1]])
    [alert] = alerts_for(update, load_rules(EXAMPLE_RULES), StoryFacts({}), now=1.0)
    assert (alert.trigger, alert.verdict, alert.article_id) == ("new_development", "update", "bloomberg-v2")
    assert alert.new_sentences == UPDATE_FACTS
    # sha256 of "korea-summit|story-dmz|" and the development key: the sha256 of the two facts casefolded, quotes
    # made straight, sorted and joined by a newline. Pinned: a receiver drops repeats by it across upgrades.
    assert alert.idempotency_key == "33b74d011f69b7a16654557d46301610ddd8a6538e0f99d863a80b4f5f0456b8"


def test_same_story_from_another_outlet_can_be_a_new_development(bloomberg: CleanArticle) -> None:
    same_story = development(bloomberg, UPDATE_FACTS[:1], "same_story")
    [alert] = alerts_for(same_story, load_rules(EXAMPLE_RULES), StoryFacts({}), now=1.0)
    assert (alert.trigger, alert.verdict) == ("new_development", "same_story")


def test_an_update_without_facts_and_a_duplicate_never_alert(bloomberg: CleanArticle) -> None:
    rules = load_rules(EXAMPLE_RULES)
    assert alerts_for(development(bloomberg, [NOT_A_FACT]), rules, StoryFacts({}), now=1.0) == []
    duplicate = tag(bloomberg, DedupVerdict(kind="duplicate", story_id="story-dmz", matched_id="bloomberg-v1",
                                            added_sentences=UPDATE_FACTS))
    assert alerts_for(duplicate, rules, StoryFacts({}), now=1.0) == []


def test_rules_fire_only_on_their_triggers(new_story: TaggedArticle, bloomberg: CleanArticle) -> None:
    stories_only = one_rule("{entities: [Kim]}", triggers="[new_story]")
    assert len(alerts_for(new_story, stories_only, StoryFacts({}), now=1.0)) == 1
    assert alerts_for(development(bloomberg, UPDATE_FACTS), stories_only, StoryFacts({}), now=1.0) == []


def test_replay_gives_the_same_key_and_a_new_fact_a_different_one(bloomberg: CleanArticle) -> None:
    rules = load_rules(EXAMPLE_RULES)
    first = alerts_for(development(bloomberg, UPDATE_FACTS), rules, StoryFacts({}), now=1.0)[0]
    respaced = f"  {UPDATE_FACTS[1].replace(' ', '  ')} "
    replay = alerts_for(development(bloomberg, [respaced, UPDATE_FACTS[0]]), rules, StoryFacts({}), now=9.0)[0]
    other = alerts_for(development(bloomberg, UPDATE_FACTS[:1]), rules, StoryFacts({}), now=1.0)[0]
    assert first.idempotency_key == replay.idempotency_key
    assert other.idempotency_key != first.idempotency_key


def known_story(new_story: TaggedArticle) -> StoryFacts:
    stories = StoryFacts({})
    assert stories.development(new_story).facts == ()
    return stories


@pytest.mark.parametrize("sentence, new", [
    ("Ko Min-jung said the two sides would talk.", ["Ko Min-jung"]),            # an entity the story never named
    ("Moon Jae-in will host Trump at the border.", []),                        # both named before
    ("More than 1,200 troops guard the border, 9,000 in all.", ["1200", "9000"]),
    ("Trump said the DMZ was “a place of great symbolism.”", ["“a place of great symbolism.”"]),
    ("Trump said he would “shake hands at the Demilitarized Zone.”", []),         # re-quoting what the story said
    (NOT_A_FACT, []),
])
def test_facts_are_new_only_when_the_story_lacked_them(new_story: TaggedArticle, bloomberg: CleanArticle,
                                                      sentence: str, new: list[str]) -> None:
    stories = known_story(new_story)
    found = stories.development(development(bloomberg.derive(paragraphs=[*bloomberg.paragraphs, sentence]),
                                            [sentence]))
    assert [str(fact) for fact in found.facts] == new
    assert found.sentences == ((sentence,) if new else ())


def test_an_alert_links_to_the_storys_other_articles(new_story: TaggedArticle, bloomberg: CleanArticle) -> None:
    sentence = "Ko Min-jung said there were 1,200 troops and 900 guards."
    update = development(bloomberg.derive(paragraphs=[*bloomberg.paragraphs, sentence]), [sentence])
    update = update.derive(article=update.article.derive(url="https://news.example/bloomberg-v2"))
    [alert] = alerts_for(update, load_rules(EXAMPLE_RULES), known_story(new_story), now=1.0)
    assert alert.story_links == ["https://news.example/bloomberg-v1"]


def test_a_surname_of_a_known_name_is_not_new(new_story: TaggedArticle, bloomberg: CleanArticle) -> None:
    stories = known_story(new_story)
    update = development(bloomberg, ["Moon greeted the visitors."])
    update = update.derive(entities=[EntityMention(start=0, end=4, text="Moon", label="PERSON", canonical="Moon")])
    assert stories.development(update).facts == ()


def test_a_replayed_article_gets_its_first_decision(new_story: TaggedArticle, bloomberg: CleanArticle) -> None:
    stories = known_story(new_story)
    sentence = "Ko Min-jung said there were 1,200 troops."
    update = development(bloomberg.derive(paragraphs=[*bloomberg.paragraphs, sentence]), [sentence])
    first = stories.development(update)
    assert [str(fact) for fact in first.facts] == ["1200", "Ko Min-jung"]
    assert stories.development(update) == first                   # folded in, yet decided the same
    assert stories.development(update.derive(article=update.article.derive(id="v3"))).facts == ()


def test_the_same_text_ingested_again_is_a_duplicate_that_raises_nothing(bloomberg: CleanArticle) -> None:
    stories, rules = StoryFacts({}), load_rules(EXAMPLE_RULES)
    update = development(bloomberg, UPDATE_FACTS)
    assert [a.trigger for a in alerts_for(update, rules, stories, now=1.0)] == ["new_development"]
    again = update.article.derive(ingested_at=update.article.ingested_at + 3600)  # same id: same source and text
    duplicate = tag(again, DedupVerdict(kind="duplicate", story_id="story-dmz", matched_id=update.article.id))
    assert alerts_for(duplicate, rules, stories, now=2.0) == []
    assert stories.development(update.derive(article=again)).facts == (), "a new delivery is decided anew"


def test_a_development_needs_the_rules_least_new_facts(new_story: TaggedArticle, bloomberg: CleanArticle) -> None:
    sentence = "Ko Min-jung and Mohammed bin Salman spoke."  # two new facts
    rules = rules_from("rules:\n- {id: any, description: d, when: {entities: [Kim]}, triggers: [new_development]}\n"
                       "- {id: two, description: d, when: {entities: [Kim]}, triggers: [new_development], "
                       "min_new_facts: 2}\n")
    update = development(bloomberg.derive(paragraphs=[*bloomberg.paragraphs, sentence]), [sentence])
    [alert] = alerts_for(update, rules, known_story(new_story), now=1.0)
    assert (alert.rule_id, alert.new_facts, alert.detail) == ("two", ["Ko Min-jung", "Mohammed bin Salman"],
                                                              "2 new facts: Ko Min-jung, Mohammed bin Salman")


def test_the_ledger_keeps_what_each_sink_has(new_story: TaggedArticle) -> None:
    marks: dict[str, dict[str, float | None]] = {}
    ledger = AlertLedger(marks)
    rules = load_rules(EXAMPLE_RULES)
    [story] = alerts_for(new_story, rules, StoryFacts({}), now=10.0)
    assert ledger.pending(story, ["topic", "webhook"]) == ["topic", "webhook"]
    assert not ledger.attempting(story, "topic", 10.5)
    ledger.mark_delivered(story, "topic", 11.0)
    assert not ledger.attempting(story, "webhook", 11.5)       # tried, then the worker crashed
    replay = alerts_for(new_story, rules, StoryFacts({}), now=30.0)[0]  # the same article again, after a crash
    assert ledger.pending(replay, ["topic", "webhook"]) == ["webhook"]
    assert ledger.attempting(replay, "webhook", 30.5)           # a redelivery, with the same key
    ledger.mark_delivered(replay, "webhook", 31.0)
    assert ledger.pending(story, ["topic", "webhook"]) == []
    assert marks == {f"{story.idempotency_key}:topic": {"attempted": 10.5, "delivered": 11.0},
                     f"{story.idempotency_key}:webhook": {"attempted": 30.5, "delivered": 31.0}}


def test_stories_older_than_the_retention_are_stale(new_story: TaggedArticle) -> None:
    stories = known_story(new_story)
    seen = stories.stories["story-dmz"]["seen"]
    assert stale_stories(stories.stories.items(), newest=seen + 3600, retention=7200) == []
    assert stale_stories(stories.stories.items(), newest=seen + 7201, retention=7200) == ["story-dmz"]
    stories.forget("story-dmz")
    assert stories.stories == {}
