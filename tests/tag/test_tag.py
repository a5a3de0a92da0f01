"""The tag stage's core: NER-only loading, batching, mention trimming and one name and label per entity."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest
import spacy
from spacy.language import Language

from agents.tag.core import Tagger
from agents.tag.model import load_ner, ner_components
from agents.tag.lexicon import KEPT_LABELS, AliasesInvalid, Lexicon
from agents.tag.normalise import normalise_spans, repair_span, trim_span
from agents.tag.paragraphs import PARAGRAPH, ParagraphSpans
from agents.tag.resolve import resolve_entities
from streams.records import EntityMention
from streams.settings import Settings

MODEL = Settings().spacy_model


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(MODEL)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.from_file(Settings().aliases_file)


@pytest.fixture(scope="module")
def seed_mentions(nlp: Language, lexicon: Lexicon, seed_texts: list[str]) -> list[list[EntityMention]]:
    return Tagger(nlp, lexicon).tag(seed_texts)


def entities(mentions: Iterable[EntityMention]) -> dict[str, set[str]]:
    """Canonical name → the labels it was given (a consistent article gives exactly one)."""
    labels: dict[str, set[str]] = defaultdict(set)
    for m in mentions:
        labels[m.canonical].add(m.label)
    return labels


def spans(text: str, *marked: tuple[str, str]) -> list[tuple[int, int, str]]:
    """(start, end, label) spans for each (surface, label), every occurrence of the surface in `text`."""
    found = []
    for surface, label in marked:
        start = text.find(surface)
        while start != -1:
            found.append((start, start + len(surface), label))
            start = text.find(surface, start + 1)
    return found


# --- loading -------------------------------------------------------------------------------------------------

def test_load_ner_runs_only_what_ner_needs(nlp: Language) -> None:
    # en_core_web_sm's ner has its own embedding layer: it listens to no tok2vec, so only ner runs.
    assert nlp.pipe_names == ["ner"]
    assert {"tagger", "parser", "attribute_ruler", "lemmatizer"} <= set(nlp.disabled)


def test_ner_only_pipeline_finds_what_the_full_pipeline_finds(nlp: Language, seed_texts: list[str]) -> None:
    full = spacy.load(MODEL)
    for text in seed_texts:
        assert [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents] == \
               [(e.start_char, e.end_char, e.label_) for e in full(text).ents]


def test_load_ner_keeps_the_embedding_layer_ner_listens_to(tmp_path: Path) -> None:
    listening = spacy.blank("en")
    listening.add_pipe("tok2vec")
    listening.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
        "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "nO": None,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}}})
    listening.add_pipe("sentencizer")
    listening.initialize()
    assert ner_components(listening) == {"tok2vec", "ner"}
    listening.to_disk(tmp_path / "pipeline")

    loaded = load_ner(str(tmp_path / "pipeline"))

    assert loaded.pipe_names == ["tok2vec", "ner"]


def test_missing_model_names_the_setting() -> None:
    with pytest.raises(OSError, match="WIREWATCH_SPACY_MODEL"):
        load_ner("en_no_such_model_xyz")


def test_pipeline_without_ner_is_refused(tmp_path: Path) -> None:
    spacy.blank("en").to_disk(tmp_path / "blank")
    with pytest.raises(ValueError, match="WIREWATCH_SPACY_MODEL"):
        load_ner(str(tmp_path / "blank"))


# --- batching ------------------------------------------------------------------------------------------------

class PipeSpy:
    """An nlp stand-in that records what each `pipe` call read and forwards everything to the real pipeline."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self.pipe_calls: list[list[str]] = []

    def pipe(self, texts: Iterable[str], **kwargs: Any) -> Iterator[Any]:
        texts = list(texts)
        self.pipe_calls.append(texts)
        return self.nlp.pipe(texts, **kwargs)

    def paragraphs_read(self) -> list[int]:
        """Per call, how many paragraphs the model read."""
        return [sum(len(paragraphs(t)) for t in call) for call in self.pipe_calls]

    def __call__(self, text: str) -> Any:
        raise AssertionError("the tagger must not call nlp once per text")


def paragraphs(text: str) -> list[str]:
    return PARAGRAPH.findall(text)


def paragraph_count(texts: Iterable[str]) -> int:
    return len({p for t in texts for p in paragraphs(t)})


def test_one_pipe_call_per_batch_reading_each_new_paragraph_once(
        nlp: Language, lexicon: Lexicon, seed_texts: list[str]) -> None:
    spy = PipeSpy(nlp)
    tagger = Tagger(spy, lexicon, batch_size=4)  # type: ignore[arg-type]

    tagged = tagger.tag(seed_texts * 3)

    assert spy.paragraphs_read() == [paragraph_count(seed_texts)]
    assert len(spy.pipe_calls[0]) == 2  # one document per article with unread paragraphs
    assert len(tagged) == 6 and tagged[0] == tagged[2]
    # The same articles again (duplicates): same entities, no model time; an update: only its new paragraph.
    update = seed_texts[0] + "\n\nKim Yo Jong, his sister, travelled to Seoul."
    again = tagger.tag([seed_texts[1], update])
    assert spy.paragraphs_read() == [paragraph_count(seed_texts), 1]
    assert spy.pipe_calls[1] == ["Kim Yo Jong, his sister, travelled to Seoul."]
    assert again[0] == tagged[1]
    assert {"Kim Yo Jong", "Seoul"} <= {m.canonical for m in again[1]}


def test_paragraphs_are_forgotten_beyond_capacity_and_still_tagged(nlp: Language, lexicon: Lexicon) -> None:
    spy = PipeSpy(nlp)
    tagger = Tagger(spy, lexicon, remembered_paragraphs=1)  # type: ignore[arg-type]
    texts = ["Angela Merkel spoke.\n\nEmmanuel Macron replied.", "Angela Merkel spoke."]
    first, second = tagger.tag(texts)
    assert {m.canonical for m in first} == {"Angela Merkel", "Emmanuel Macron"}
    assert second == first[:1]
    tagger.tag(texts[:1])  # its paragraph was pushed out by "Emmanuel Macron replied."
    assert spy.paragraphs_read() == [2, 1]


def test_a_name_the_model_runs_across_a_blank_line_is_cut_at_its_paragraph(nlp: Language) -> None:
    class Across:
        """A model that tags one span from the first paragraph into the second."""

        def pipe(self, texts: list[str], **kwargs: Any) -> Iterator[Any]:
            for text in texts:
                end = text.index("Showers") + len("Showers")
                yield type("Doc", (), {"ents": [type("Ent", (), {"start_char": 0, "end_char": end,
                                                                 "label_": "ORG"})()]})()

    [found] = ParagraphSpans(Across(), 10, 4).spans(["Bahia Cocoa Review\n\nShowers fell."])  # type: ignore[arg-type]
    assert found == [(0, len("Bahia Cocoa Review"), "ORG")]


def test_empty_batch_gives_no_mentions(nlp: Language, lexicon: Lexicon) -> None:
    assert Tagger(nlp, lexicon).tag([]) == []
    assert Tagger(nlp, lexicon).tag(["", "no names here at all."]) == [[], []]


def test_the_shipped_alias_file_loads_and_a_broken_one_names_every_problem(tmp_path: Path) -> None:
    lexicon = Lexicon.from_file(Settings().aliases_file)
    assert lexicon.canonical_by_surface["G-20"] == "Group of 20" and lexicon.labels["Group of 20"] == "ORG"
    broken = tmp_path / "aliases.yaml"
    broken.write_text("Acme: {label: COMPANY}\nUnited States: {label: GPE, aliases: [US]}\n"
                      "Ultrasound: {label: PRODUCT, aliases: [US]}\nZeta: {label: ORG, aliases: oops}\n")
    with pytest.raises(AliasesInvalid) as raised:
        Lexicon.from_file(broken)
    assert len(raised.value.problems) == 3
    assert "'US' is an alias of both 'United States' and 'Ultrasound'" in str(raised.value)
    with pytest.raises(AliasesInvalid, match="cannot read"):
        Lexicon.from_file(tmp_path / "missing.yaml")


def test_an_alias_added_to_the_file_resolves_without_code(nlp: Language, tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("International Monetary Fund: {label: ORG, aliases: [IMF, the Fund]}\n")
    [mentions] = Tagger(nlp, Lexicon.from_file(aliases)).tag(["The IMF cut its forecast. The IMF said so."])
    assert [(m.text, m.canonical, m.label) for m in mentions] == [
        ("IMF", "International Monetary Fund", "ORG")] * 2


# --- the seeds -----------------------------------------------------------------------------------------------

def test_seeds_name_the_story_entities(seed_mentions: list[list[EntityMention]]) -> None:
    bloomberg, other_outlet = (entities(m) for m in seed_mentions)
    for found in (bloomberg, other_outlet):
        assert found["Donald Trump"] == {"PERSON"}
        assert found["Kim Jong Un"] == {"PERSON"}
        assert found["North Korea"] == {"GPE"}
        assert found["South Korea"] == {"GPE"}
        assert len(found["Demilitarized Zone"]) == 1 and found["Demilitarized Zone"] <= {"LOC", "FAC", "GPE"}
        assert found["United States"] == {"GPE"}
        assert found["Group of 20"] == {"ORG"}
    assert bloomberg["Moon Jae-in"] == {"PERSON"}


def test_one_label_per_entity_in_each_seed(seed_mentions: list[list[EntityMention]]) -> None:
    for mentions in seed_mentions:
        assert {name: labels for name, labels in entities(mentions).items() if len(labels) > 1} == {}


def test_every_trump_surname_is_donald_trump_but_ivanka_is_herself(
        seed_mentions: list[list[EntityMention]]) -> None:
    mentions = [m for article in seed_mentions for m in article]
    trumps = [m for m in mentions if m.text == "Trump"]
    assert len(trumps) > 40
    assert {(m.canonical, m.label) for m in trumps} == {("Donald Trump", "PERSON")}
    assert {m.canonical for m in mentions if m.text == "Ivanka Trump"} == {"Ivanka Trump"}
    assert {m.canonical for m in mentions if m.text in ("Kim", "Kim Jong Un")} == {"Kim Jong Un"}
    assert {m.canonical for m in seed_mentions[0] if m.text.startswith("Moon")} == {"Moon Jae-in"}


def test_seed_mentions_are_names_not_credits_or_possessives(seed_mentions: list[list[EntityMention]]) -> None:
    mentions = [m for article in seed_mentions for m in article]
    assert not [m.text for m in mentions if m.text.endswith(("’s", "'s"))]
    assert not [m for m in mentions if m.text.upper() == "REUTERS" or m.canonical == "Kevin Lamarque"]
    assert not [m.text for m in mentions if m.text in ("Border", "n’t", "’s")]
    assert {m.label for m in mentions} <= KEPT_LABELS
    assert {m.canonical for m in mentions if m.text == "Twitter"} == {"Twitter"}
    assert {m.label for m in mentions if m.text == "Twitter"} == {"ORG"}


def test_offsets_index_the_text_as_given(seed_texts: list[str], seed_mentions: list[list[EntityMention]]) -> None:
    for text, mentions in zip(seed_texts, seed_mentions):
        assert mentions
        for m in mentions:
            assert text[m.start:m.end] == m.text
            assert m.text == m.text.strip()


# --- span normalisation, no model ----------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "name"), [
    ("North Korea’s", "North Korea"),
    ("North Korea's", "North Korea"),
    ("“Kim Jong Un,”", "Kim Jong Un"),
    ("the Demilitarized Zone", "Demilitarized Zone"),
    ("The United Nations", "United Nations"),
    ("Bloomberg L.P.\n\n    ", "Bloomberg L.P."),
    ("the United States’", "United States"),
])
def test_trim_span_keeps_only_the_name(written: str, name: str) -> None:
    text = f"said {written} today"
    start, end, titled = trim_span(text, 5, 5 + len(written))
    assert text[start:end] == name
    assert not titled


def test_trim_span_strips_titles_and_remembers_them() -> None:
    text = "Crown Prince Mohammed bin Salman"
    start, end, titled = trim_span(text, 0, len(text))
    assert (text[start:end], titled) == ("Mohammed bin Salman", True)


def test_repair_span_extends_names_the_model_cut() -> None:
    assert repair_span("at the Group of 20 summit", 7, 15) == len("at the Group of 20")
    assert repair_span("President Moon Jae-in said", 10, 18) == len("President Moon Jae-in")
    assert repair_span("the DPRK-U.S. summit", 4, 8) == 8
    assert repair_span("the Bank of\nsomething", 4, 11) == len("the Bank")


def test_normalise_spans_drops_junk_and_unwanted_labels() -> None:
    text = "Summit on Sunday, 2019. REUTERS/Kevin Lamarque. He didn’t go to Osaka."
    found = normalise_spans(text, spans(
        text, ("Sunday", "DATE"), ("2019", "CARDINAL"), ("REUTERS", "ORG"), ("Kevin Lamarque", "PERSON"),
        ("n’t", "GPE"), ("Osaka", "GPE")))
    assert [m.name for m in found] == ["Osaka"]


def test_normalise_collapses_whitespace_in_names_but_offsets_stay_exact() -> None:
    text = "Kim\nJong  Un arrived."
    [mention] = resolve_entities(text, [(0, 12, "PERSON")])
    assert (mention.text, mention.canonical) == ("Kim\nJong  Un", "Kim Jong Un")


# --- document-level consistency, no model -------------------------------------------------------------------

def test_surnames_resolve_to_the_full_name_and_become_person() -> None:
    text = ("Donald Trump met Ivanka Trump. Trump said so. Then President Trump left, and Mr. Trump slept. "
            "Donald Trump woke.")
    full_names = spans(text, ("Donald Trump", "PERSON"), ("Ivanka Trump", "PERSON"))
    bare = [(s, e, "ORG") for s, e, _ in spans(text, ("Trump", "ORG")) if not any(e == f[1] for f in full_names)]
    found = resolve_entities(text, full_names + bare)
    surnames = [m for m in found if m.text == "Trump"]
    assert len(surnames) == 3
    assert {(m.canonical, m.label) for m in surnames} == {("Donald Trump", "PERSON")}
    assert [m.canonical for m in found if m.text == "Ivanka Trump"] == ["Ivanka Trump"]


def test_surname_matching_several_full_names_goes_to_the_most_mentioned() -> None:
    text = "Donald Trump spoke. Ivanka Trump spoke. Donald Trump left. Trump said."
    found = resolve_entities(text, spans(text, ("Donald Trump", "PERSON"), ("Ivanka Trump", "PERSON")) +
                             [(text.rindex("Trump"), len(text) - len(" said."), "PERSON")])
    assert found[-1].canonical == "Donald Trump"


def test_surname_tied_between_full_names_goes_to_the_one_named_first() -> None:
    text = "Donald Trump spoke. His daughter, Ivanka Trump, agreed. Trump said."
    said = text.rindex("Trump")
    found = resolve_entities(text, spans(text, ("Donald Trump", "PERSON"), ("Ivanka Trump", "PERSON")) +
                             [(said, said + 5, "PERSON")])
    assert [m.canonical for m in found] == ["Donald Trump", "Ivanka Trump", "Donald Trump"]


def test_surname_goes_to_the_full_name_mentioned_most() -> None:
    text = "Jihye Lee wrote. Rachel Lee and Rachel Lee said. Lee added."
    added = text.rindex("Lee")
    found = resolve_entities(text, spans(text, ("Jihye Lee", "PERSON"), ("Rachel Lee", "PERSON"))
                             + [(added, added + 3, "PERSON")])
    assert [m.canonical for m in found][-1] == "Rachel Lee"


def test_headline_merge_is_cut_back_to_the_name_the_body_uses() -> None:
    text = "Trump Invites Kim to the Border\n\nDonald Trump invited Kim. Trump said so."
    said = text.rindex("Trump")
    found = resolve_entities(text, spans(text, ("Trump Invites", "PERSON"), ("Donald Trump", "PERSON"))
                             + [(said, said + 5, "PERSON")])
    assert [(m.text, m.canonical) for m in found][0] == ("Trump", "Donald Trump")


def test_org_tagged_name_never_called_a_person_is_not_merged_into_one() -> None:
    text = "Michael Bloomberg spoke to Bloomberg reporters."
    found = resolve_entities(text, [(0, 17, "PERSON"), (27, 36, "ORG")])
    assert [(m.canonical, m.label) for m in found] == [("Michael Bloomberg", "PERSON"), ("Bloomberg", "ORG")]


def test_aliases_share_one_canonical_and_its_label(lexicon: Lexicon) -> None:
    text = "The U.S. and US officials met at the DMZ, the demilitarised zone, before the G-20 in Osaka."
    found = resolve_entities(text, [(4, 8, "GPE"), (13, 15, "ORG"), (37, 40, "ORG"), (78, 82, "PRODUCT")], lexicon)
    assert [(m.text, m.canonical, m.label) for m in found] == [
        ("U.S.", "United States", "GPE"),
        ("US", "United States", "GPE"),
        ("DMZ", "Demilitarized Zone", "LOC"),
        ("demilitarised zone", "Demilitarized Zone", "LOC"),  # found from the alias table, missed by the model
        ("G-20", "Group of 20", "ORG"),
    ]


def test_majority_label_wins_for_other_entities() -> None:
    text = "Zeta Bank rose. Zeta Bank fell. Zeta Bank closed."
    found = resolve_entities(text, [(0, 9, "ORG"), (16, 25, "GPE"), (32, 41, "ORG")])
    assert {m.label for m in found} == {"ORG"}


def test_one_word_person_used_as_a_thing_is_dropped_but_titled_names_stay() -> None:
    text = "President Xi will meet him at the Border today. Xi agreed."
    found = resolve_entities(text, spans(text, ("Xi", "PERSON"), ("Border", "PERSON")))
    assert [(m.text, m.label) for m in found] == [("Xi", "PERSON"), ("Xi", "PERSON")]


def test_hyphenated_pair_of_known_names_is_split() -> None:
    text = "Donald Trump and Kim Jong Un planned a Trump-Kim meeting."
    found = resolve_entities(text, spans(text, ("Donald Trump", "PERSON"), ("Kim Jong Un", "PERSON"),
                                         ("Trump-Kim", "PERSON")))
    assert [(m.text, m.canonical) for m in found[2:]] == [("Trump", "Donald Trump"), ("Kim", "Kim Jong Un")]
    assert all(text[m.start:m.end] == m.text for m in found)
