"""The CoNLL-2003 scorer (reading IOB2 documents, mapping spaCy spans onto tokens, entity-level scores) and the
tagger's score on the dev set."""
from __future__ import annotations

import pytest

from agents.tag.core import Tagger
from benchmarks.conll_eval import Document, read_conll, score, token_entities
from streams.settings import Settings
from tests.conftest import shared_data

SAMPLE = """-DOCSTART- -X- -X- O

SOCCER NN B-NP O
- : O O
JAPAN NNP B-NP B-LOC
GET VB B-VP O

Nadim NNP B-NP B-PER
Ladki NNP I-NP I-PER
AL-AIN NNP B-NP B-LOC
, , O O
United NNP B-NP B-LOC
Arab NNP I-NP I-LOC
Emirates NNPS I-NP I-LOC
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
French JJ I-NP B-MISC
"""


@pytest.fixture
def documents() -> list[Document]:
    return read_conll(SAMPLE.splitlines())


def test_documents_keep_their_sentences_and_entity_spans(documents: list[Document]) -> None:
    first, second = documents
    assert first.text == "SOCCER - JAPAN GET\nNadim Ladki AL-AIN , United Arab Emirates"
    assert first.entities == {(2, 3, "LOC"), (4, 6, "PER"), (6, 7, "LOC"), (8, 11, "LOC")}
    # A B- tag right after an entity of the same type starts a new one.
    assert second.entities == {(0, 1, "ORG"), (2, 3, "MISC"), (3, 4, "MISC")}


def test_character_spans_become_token_spans_with_mapped_labels(documents: list[Document]) -> None:
    first = documents[0]
    text = first.text
    name = text.index("Nadim Ladki")
    emirates = text.index("United")
    spans = [(name, name + len("Nadim Ladki"), "PERSON"),
             (emirates + 2, emirates + len("United Arab"), "GPE"),  # widened to the tokens it touches
             (0, 6, "DATE")]  # not a CoNLL entity: dropped
    assert token_entities(first, spans) == {(4, 6, "PER"), (8, 10, "LOC")}


def test_scores_count_exact_span_and_label_only(documents: list[Document]) -> None:
    gold = [d.entities for d in documents]
    predicted = [{(2, 3, "LOC"), (4, 6, "PER"), (6, 7, "ORG")}, {(0, 1, "ORG"), (2, 4, "MISC")}]
    scores = score(predicted, gold)
    # 3 right (JAPAN, Nadim Ladki, EU), 2 wrong (AL-AIN as ORG, German French as one), 4 missed.
    assert scores.overall == pytest.approx((3 / 5, 3 / 7, 2 * (3 / 5) * (3 / 7) / (3 / 5 + 3 / 7)))
    assert scores.by_label["PER"] == (1.0, 1.0, 1.0)
    assert scores.by_label["MISC"] == (0.0, 0.0, 0.0)


def dev_set() -> list[Document]:
    with open(shared_data("conll2003-dev/eng.testa.iob2"), encoding="utf-8") as lines:
        return read_conll(lines)


def test_the_dev_set_reads_as_documented() -> None:
    documents = dev_set()
    assert len(documents) == 216
    assert sum(len(d.entities) for d in documents) == 5942
    assert sum(len(s) for d in documents for s in d.sentences) == 51362


def test_the_tagger_keeps_its_documented_score_on_the_dev_set() -> None:
    """docs/performance.md: P 0.781, R 0.681, entity-level F1 0.728 (the stock model: 0.650); floors a little under."""
    documents = dev_set()
    mentions = Tagger.from_settings(Settings.from_env({})).tag([d.text for d in documents])
    found = [token_entities(d, [(m.start, m.end, m.label) for m in found])
             for d, found in zip(documents, mentions, strict=True)]
    precision, recall, f1 = score(found, [d.entities for d in documents]).overall
    assert precision >= 0.77 and recall >= 0.67 and f1 >= 0.72, (precision, recall, f1)
