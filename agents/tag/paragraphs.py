"""The model's spans per paragraph, remembered: duplicates, updates and re-publications run the model only on the
paragraphs it has not read yet.

An article's spans are its paragraphs' spans (paragraph: text up to a blank line), so a paragraph seen before
needs no model time. The paragraphs the model has not read are read together, one document per article, and a
span is cut at the end of the paragraph it starts in: read whole, an article lets a name run across a blank line
(`Bahia Cocoa Review\n\nShowers`).
"""
from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from collections.abc import Sequence

from spacy.language import Language

Span = tuple[int, int, str]  # (start, end, OntoNotes label), character offsets
PARAGRAPH = re.compile(r"\S(?:[^\n]|\n(?!\s*\n))*")  # from a non-space character up to the next blank line
SEPARATOR = "\n\n"


class ParagraphSpans:
    """A bounded memory of paragraph text → the model's spans in it (least recently used forgotten first)."""

    def __init__(self, nlp: Language, capacity: int, batch_size: int) -> None:
        self.nlp = nlp
        self.capacity = capacity
        self.batch_size = batch_size
        self.remembered: OrderedDict[str, tuple[Span, ...]] = OrderedDict()

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """The model's spans of each text, offsets into that text; one `nlp.pipe` call over the unread paragraphs."""
        pieces = [[(m.start(), m.group()) for m in PARAGRAPH.finditer(text)] for text in texts]
        read = self._read(pieces)
        result = []
        for paragraphs in pieces:
            found: list[Span] = []
            for offset, paragraph in paragraphs:
                spans = read[paragraph] if paragraph in read else self._recall(paragraph)
                found += [(offset + start, offset + end, label) for start, end, label in spans]
            result.append(found)
        for paragraph, spans in read.items():
            self._remember(paragraph, spans)
        return result

    def _read(self, pieces: list[list[tuple[int, str]]]) -> dict[str, tuple[Span, ...]]:
        """Spans of every paragraph not remembered. The model reads each text's unread paragraphs as one document
        (many short documents cost it about 20% more), and each span is cut back to the paragraph it starts in."""
        read: dict[str, tuple[Span, ...]] = {}
        documents: list[list[str]] = []
        for paragraphs in pieces:
            unread = [p for _, p in paragraphs if p not in self.remembered and p not in read]
            unread = list(dict.fromkeys(unread))
            read.update((p, ()) for p in unread)
            if unread:
                documents.append(unread)
        texts = [SEPARATOR.join(document) for document in documents]
        parsed = self.nlp.pipe(texts, batch_size=self.batch_size) if texts else []
        for document, doc in zip(documents, parsed, strict=True):
            starts, position = [], 0
            for paragraph in document:
                starts.append(position)
                position += len(paragraph) + len(SEPARATOR)
            found: dict[str, list[Span]] = {p: [] for p in document}
            for entity in doc.ents:
                index = bisect.bisect_right(starts, entity.start_char) - 1
                paragraph, offset = document[index], starts[index]
                end = min(entity.end_char - offset, len(paragraph))
                if end > entity.start_char - offset:
                    found[paragraph].append((entity.start_char - offset, end, entity.label_))
            read.update((p, tuple(spans)) for p, spans in found.items())
        return read

    def _remember(self, paragraph: str, spans: tuple[Span, ...]) -> None:
        if self.capacity > 0:
            self.remembered[paragraph] = spans
            if len(self.remembered) > self.capacity:
                self.remembered.popitem(last=False)

    def _recall(self, paragraph: str) -> tuple[Span, ...]:
        self.remembered.move_to_end(paragraph)
        return self.remembered[paragraph]
