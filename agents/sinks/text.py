"""Untrusted article text made fit for a terminal, a chat message or a mail header: one line, visible, bounded."""
from __future__ import annotations

import unicodedata

TRIGGER_WORDS = {"new_story": "new story", "new_development": "new development", "surge": "surge in mentions",
                 "first_co_mention": "first co-mention"}


def visible(text: str) -> str:
    """`text` on one line: control characters (an ESC starts a terminal escape, CR LF a mail header) become spaces."""
    shown = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(shown.split())


def shorten(text: str, width: int) -> str:
    """`visible(text)`, cut to `width` characters with an ellipsis when longer."""
    text = visible(text)
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def trigger_words(trigger: str) -> str:
    """A trigger as a reader says it: `new_development` → "new development"."""
    return TRIGGER_WORDS.get(trigger, trigger.replace("_", " "))
