"""The language of a clean article, detected with py3langid's bundled model (no download, no network)."""
from __future__ import annotations

from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Fewer words than this give a guess, not a detection: the article is left without a language.
MIN_WORDS = 20
# Below this normalised probability the model is unsure (mixed or odd text): no language either.
MIN_CONFIDENCE = 0.5
# The first characters decide; more text costs time and changes nothing on news copy.
_SAMPLE_CHARS = 1500


@cache
def _identifier() -> LanguageIdentifier:
    """The model, loaded once per process on first use (about 0.2 s), so importing the stage stays cheap."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language, or None when the text is too short or the model unsure."""
    sample = text[:_SAMPLE_CHARS]
    if len(sample.split(None, MIN_WORDS)) < MIN_WORDS:
        return None
    language, confidence = _identifier().classify(sample)
    return language if confidence >= MIN_CONFIDENCE and len(language) == 2 else None
