"""The tag stage's pure core: load a spaCy pipeline for NER only and turn texts into entity mentions."""
from __future__ import annotations

from typing import Sequence

import spacy
from spacy.language import Language

from agents.tag.casing import restore_case
from agents.tag.lexicon import Lexicon
from agents.tag.paragraphs import ParagraphSpans
from agents.tag.resolve import resolve_entities
from streams.records import EntityMention
from streams.settings import Settings

# Components that write `doc.ents`; anything else is run only if one of these listens to it.
ENTITY_FACTORIES: frozenset[str] = frozenset({"ner", "beam_ner", "entity_ruler"})
MODEL_SETTING = "WIREWATCH_SPACY_MODEL"


def load_ner(model: str) -> Language:
    """The pipeline `model` (package name or path) with every component NER does not need disabled.

    What to keep is read from the loaded pipeline rather than hard-coded, so a swapped-in model works: the
    entity components plus the shared embedding layers (tok2vec, transformer) they listen to.
    """
    try:
        nlp = spacy.load(model)
    except OSError as exc:
        raise OSError(
            f"spaCy model {model!r} is not installed or not a pipeline directory; install it or set "
            f"{MODEL_SETTING} to an installed pipeline name or path") from exc
    keep = ner_components(nlp)
    if not keep:
        raise ValueError(f"spaCy model {model!r} has no entity recognizer; set {MODEL_SETTING} to one that has")
    for name in nlp.pipe_names:
        if name not in keep:
            nlp.disable_pipe(name)
    return nlp


def ner_components(nlp: Language) -> set[str]:
    """Names of the components that set entities and of the components whose output they listen to."""
    entity_names = {name for name in nlp.component_names if nlp.get_pipe_meta(name).factory in ENTITY_FACTORIES}
    upstream = {
        name for name, component in nlp.components
        if entity_names & set(getattr(component, "listener_map", {}))
    }
    return entity_names | upstream


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
