"""Entity-level precision, recall and F1 on CoNLL-2003 English dev (../shared/data): the stock model and wirewatch.

    .venv/bin/python -m benchmarks.conll_eval [--show 10]

Each -DOCSTART- document becomes one text: its sentences one per line, tokens joined by single spaces (the form the
data comes in: all-caps headlines, datelines such as `LONDON 1996-08-30`, results tables). Both systems read the same
texts with the same spaCy pipeline (`WIREWATCH_SPACY_MODEL`, NER components only): "stock" is the model's own
entities, "wirewatch" is what the tag stage makes of them. A predicted entity counts when its token span and type
both equal a gold one (CoNLL's rule); a predicted span is widened to the tokens it touches.

Label mapping, OntoNotes → CoNLL: PERSON → PER; ORG → ORG; GPE, LOC, FAC → LOC; NORP, EVENT, WORK_OF_ART, LAW,
LANGUAGE, PRODUCT → MISC. The other OntoNotes labels (dates, times, numbers, money, quantities) are not CoNLL
entities and are dropped. Nothing here trains on CoNLL text: the data is read to be scored.
"""
from __future__ import annotations

import argparse
import bisect
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.tag.core import Tagger
from benchmarks.shared_data import SHARED_DATA, require
from streams.settings import Settings

CONLL_DEV = SHARED_DATA / "conll2003-dev" / "eng.testa.iob2"
TO_CONLL = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
            "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC", "PRODUCT": "MISC"}
LABELS = ("PER", "ORG", "LOC", "MISC")

Entity = tuple[int, int, str]  # first token, token after the last, CoNLL label


@dataclass(frozen=True)
class Document:
    """One CoNLL document: its sentences as token lists and its gold entities (token spans over the document)."""

    sentences: tuple[tuple[str, ...], ...]
    entities: frozenset[Entity]

    @property
    def text(self) -> str:
        return "\n".join(" ".join(sentence) for sentence in self.sentences)

    def token_starts(self) -> list[int]:
        """Character offset in `text` where each token starts."""
        starts, offset = [], 0
        for sentence in self.sentences:
            for token in sentence:
                starts.append(offset)
                offset += len(token) + 1  # the space after it, or the newline ending the sentence
        return starts


def read_conll(lines: Iterable[str]) -> list[Document]:
    """The documents of a CoNLL-2003 IOB2 file (columns: token, POS, chunk, NER)."""
    documents: list[Document] = []
    sentences: list[tuple[str, ...]] = []
    sentence: list[str] = []
    entities: set[Entity] = set()
    open_entity: list = []  # [start token, label] of the entity being read

    def close_entity(position: int) -> None:
        if open_entity:
            entities.add((open_entity[0], position, open_entity[1]))
            open_entity.clear()

    def end_sentence() -> None:
        if sentence:
            sentences.append(tuple(sentence))
            sentence.clear()

    def end_document() -> None:
        close_entity(position())
        end_sentence()
        if sentences:
            documents.append(Document(tuple(sentences), frozenset(entities)))
        sentences.clear()
        entities.clear()

    def position() -> int:
        return sum(len(s) for s in sentences) + len(sentence)

    for line in lines:
        columns = line.split()
        if not columns:
            close_entity(position())
            end_sentence()
            continue
        if columns[0] == "-DOCSTART-":
            end_document()
            continue
        token, tag = columns[0], columns[-1]
        if tag == "O" or tag.startswith("B-") or (open_entity and tag[2:] != open_entity[1]):
            close_entity(position())
        if tag != "O" and not open_entity:
            open_entity.extend([position(), tag[2:]])
        sentence.append(token)
    end_document()
    return documents


def token_entities(document: Document, spans: Iterable[tuple[int, int, str]]) -> set[Entity]:
    """Character spans (start, end, OntoNotes label) as CoNLL entities over the tokens they touch; others dropped."""
    starts = document.token_starts()
    found = set()
    for start, end, label in spans:
        if label in TO_CONLL and end > start:
            first = bisect.bisect_right(starts, start) - 1
            after = bisect.bisect_left(starts, end)
            found.add((max(first, 0), after, TO_CONLL[label]))
    return found


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 per CoNLL label and overall."""

    by_label: dict[str, tuple[float, float, float]]
    overall: tuple[float, float, float]


def score(predicted: Sequence[set[Entity]], gold: Sequence[frozenset[Entity]]) -> Scores:
    """Entity-level scores, each entity counted once per document (exact span and label)."""
    counts: Counter[tuple[str, str]] = Counter()
    for found, truth in zip(predicted, gold, strict=True):
        for _, _, label in found & truth:
            counts[("tp", label)] += 1
        for _, _, label in found - truth:
            counts[("fp", label)] += 1
        for _, _, label in truth - found:
            counts[("fn", label)] += 1
    by_label = {label: _prf(counts[("tp", label)], counts[("fp", label)], counts[("fn", label)]) for label in LABELS}
    overall = _prf(*(sum(counts[(kind, label)] for label in LABELS) for kind in ("tp", "fp", "fn")))
    return Scores(by_label, overall)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def _row(name: str, scores: Scores) -> str:
    p, r, f = scores.overall
    labels = "  ".join(f"{label} {scores.by_label[label][2]:.3f}" for label in LABELS)
    return f"  {name:10} P {p:.3f}  R {r:.3f}  F1 {f:.3f}   {labels}"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--show", type=int, default=0, help="print this many of wirewatch's errors")
    args = options.parse_args()
    settings = Settings.from_env()
    with open(require(CONLL_DEV, "the shared CoNLL-2003 dev set"), encoding="utf-8") as lines:
        documents = read_conll(lines)
    texts = [d.text for d in documents]
    gold = [d.entities for d in documents]
    tagger = Tagger.from_settings(settings)
    nlp = tagger.nlp
    started = time.process_time()
    stock = [token_entities(d, [(e.start_char, e.end_char, e.label_) for e in doc.ents])
             for d, doc in zip(documents, nlp.pipe(texts, batch_size=settings.tag_batch_size), strict=True)]
    stock_seconds = time.process_time() - started
    started = time.process_time()
    ours = [token_entities(d, [(m.start, m.end, m.label) for m in mentions])
            for d, mentions in zip(documents, tagger.tag(texts), strict=True)]
    ours_seconds = time.process_time() - started
    print(f"CoNLL-2003 English dev: {len(documents)} documents, {sum(len(g) for g in gold)} entities; "
          f"model {settings.spacy_model} (NER components only)")
    print(_row("stock", score(stock, gold)) + f"   {stock_seconds:.1f} s CPU")
    print(_row("wirewatch", score(ours, gold)) + f"   {ours_seconds:.1f} s CPU")
    for document, found in list(zip(documents, ours, strict=True))[:args.show]:
        tokens = [t for s in document.sentences for t in s]
        for kind, entities in (("missed", document.entities - found), ("wrong", found - document.entities)):
            for start, end, label in sorted(entities)[:5]:
                print(f"    {kind:6} {label:4} {' '.join(tokens[start:end])!r}")


if __name__ == "__main__":
    main()
