"""Loading the tag stage's spaCy pipeline for NER only: the entity components and what they listen to."""
from __future__ import annotations

import spacy
from spacy.language import Language

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
