"""Wire-copy repairs before and after the model: all-caps lines recased, run-together names split, teams in results."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from spacy.language import Language

from agents.tag.casing import is_caps_line, restore_case
from agents.tag.core import Tagger
from agents.tag.model import load_ner
from agents.tag.lexicon import Lexicon
from agents.tag.normalise import name_parts, normalise_spans, results_label
from streams.settings import Settings


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner(Settings().spacy_model)


def test_caps_headline_takes_the_body_spelling_and_unseen_words_are_capitalised() -> None:
    text = "SOCCER - JAPAN TAKES LUCKY VICTORY IN THE U.S.\nJapan began the defence of their title in the U.S. on Friday."
    headline, body = restore_case(text).split("\n")
    assert headline == "Soccer - Japan Takes Lucky Victory in the U.S."
    assert body == text.split("\n")[1]


def test_short_unseen_caps_words_stay_capitals_and_mixed_lines_are_untouched() -> None:
    assert restore_case("LG BEAT OB IN SEOUL") == "LG Beat OB IN Seoul"
    prose = "NATO and the EU met in Brussels."
    assert restore_case(prose) == prose
    assert not is_caps_line("NATO and the EU met")
    assert is_caps_line("LONDON 1996-08-30")


def same_letter(first: str, second: str) -> bool:
    """True when two characters are one letter in either case (or equal). Compared a character at a time, since
    lowering the whole text would change its length where a letter lowers to two ("İ" → "i̇")."""
    return first == second or first.lower() == second.lower() or first.upper() == second.upper()


@given(st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPßİabcdefg .,'-\n0123456789"), max_size=80))
@example("İSTANBUL AND İZMİR SHARES RISE\nShares rose in Istanbul.")
def test_restored_text_keeps_every_offset_and_letter(text: str) -> None:
    restored = restore_case(text)
    assert len(restored) == len(text)
    assert [i for i, ch in enumerate(restored) if ch == "\n"] == [i for i, ch in enumerate(text) if ch == "\n"]
    assert all(same_letter(a, b) for a, b in zip(restored, text)), (restored, text)


@pytest.mark.parametrize(("span", "names"), [
    ("Lithuania - Danius Gleveckas", ["Lithuania", "Danius Gleveckas"]),
    ("Oval , Surrey", ["Oval", "Surrey"]),
    ("Scott Draper ( Australia", ["Scott Draper", "Australia"]),
    ("Puchon 2 Chonbuk 1", ["Puchon", "Chonbuk"]),
    ("J. Russell 56", ["J. Russell"]),
    ("Yorkshire at Headingley", ["Yorkshire", "Headingley"]),
    ("Interfax news agency", ["Interfax"]),
    ("Group of 20", ["Group of 20"]),
    ("Bank of America", ["Bank of America"]),
    ("Mohammed bin Salman", ["Mohammed bin Salman"]),
    ("Pfizer, Inc.", ["Pfizer, Inc."]),
])
def test_a_span_holding_several_names_falls_apart_into_them(span: str, names: list[str]) -> None:
    text = f"{span} said"
    found = normalise_spans(text, [(0, len(span), "ORG")])
    assert [m.name for m in found] == names
    assert len(name_parts(text, 0, len(span))) >= len(names)


@pytest.mark.parametrize(("line", "name", "label", "expected"), [
    ("Somerset 83 and 174 , Leicestershire 296", "Somerset", "GPE", "ORG"),
    ("Kent 108-3 at the close", "Kent", "PERSON", "ORG"),
    ("J. Russell 56 not out", "J. Russell", "PERSON", "PERSON"),
    ("Pete Sampras 6-4 6-3", "Pete Sampras", "PERSON", "PERSON"),
    ("Somerset, England", "Somerset", "GPE", "GPE"),
    ("Chicago 5.5 percent", "Chicago", "GPE", "GPE"),
])
def test_a_place_or_one_word_name_before_its_score_is_a_team(line: str, name: str, label: str, expected: str) -> None:
    assert results_label(line, len(name), name, label) == expected


def test_caps_headline_names_are_found_and_keep_their_written_text(nlp: Language) -> None:
    text = "SOCCER - JAPAN BEAT SYRIA IN ASIAN CUP\nJapan beat Syria 2-1 in the Asian Cup on Friday."
    headline_end = text.index("\n")
    assert not [e for e in nlp(text).ents if e.end_char <= headline_end]  # the model alone finds nothing there
    [mentions] = Tagger(nlp, Lexicon()).tag([text])
    assert ("SYRIA", "Syria") in {(m.text, m.canonical) for m in mentions if m.end <= headline_end}
    assert all(text[m.start:m.end] == m.text for m in mentions)
