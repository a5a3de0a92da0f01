"""The tag stage's core: entity mentions of texts (`Tagger`), and tagged articles from deduped ones."""
from __future__ import annotations

from collections.abc import Sequence

import orjson
from spacy.language import Language

from agents.tag.casing import restore_case
from agents.tag.lexicon import Lexicon
from agents.tag.model import load_ner
from agents.tag.paragraphs import ParagraphSpans
from agents.tag.resolve import resolve_entities
from streams.records import DedupedArticle, EntityMention, TaggedArticle
from streams.settings import Settings


class Tagger:
    """What tagging needs: the NER-only pipeline, the alias lexicon, and the paragraphs the model already read."""

    def __init__(self, nlp: Language, lexicon: Lexicon, batch_size: int = 32,
                 remembered_paragraphs: int = 50_000) -> None:
        self.nlp = nlp
        self.lexicon = lexicon
        self.paragraphs = ParagraphSpans(nlp, remembered_paragraphs, batch_size)

    @classmethod
    def from_settings(cls, settings: Settings) -> Tagger:
        """The model `WIREWATCH_SPACY_MODEL`, the aliases of `WIREWATCH_ALIASES_FILE`; either missing raises."""
        return cls(load_ner(settings.spacy_model), Lexicon.from_file(settings.aliases_file), settings.tag_batch_size,
                   settings.tag_remembered_paragraphs)

    def tag(self, texts: Sequence[str]) -> list[list[EntityMention]]:
        """Entity mentions of each text, offsets into the text as given; one `nlp.pipe` call over all new paragraphs.

        The model reads all-caps lines recased (`restore_case`); names, labels and aliases are then resolved over
        the whole article.
        """
        model_texts = [restore_case(text) for text in texts]
        return [resolve_entities(model_text, spans, self.lexicon, text)
                for text, model_text, spans in zip(texts, model_texts, self.paragraphs.spans(model_texts))]


def tag_articles(tagger: Tagger, items: Sequence[DedupedArticle]) -> list[TaggedArticle]:
    """Tag each article's title and body in one pass; a duplicate gets its original's entities.

    It costs no model time: its paragraphs were read with the original (same story, so same tag worker).
    """
    mentions = tagger.tag([item.article.full_text for item in items])
    return [TaggedArticle(article=item.article, verdict=item.verdict, entities=found)
            for item, found in zip(items, mentions)]


def within_size(tagged: TaggedArticle, max_bytes: int) -> TaggedArticle:
    """`tagged`, or, when its record exceeds `max_bytes` (a long list of names), with the mentions that fit, in text
    order, and marked `truncated`."""
    size = len(tagged.dumps())
    if size <= max_bytes:
        return tagged
    kept = list(tagged.entities)
    while kept and size > max_bytes:
        size -= len(orjson.dumps(kept.pop().to_representation())) + 1
    return tagged.derive(entities=kept, truncated=True)
