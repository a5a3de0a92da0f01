"""Case restoration for the model: all-caps lines (wire headlines, datelines, results headers) in sentence case.

The stock models learnt names from their capital letters, so in `SOCCER - JAPAN GET LUCKY WIN` every word looks
like one. Each word of an all-caps line is written the way the article writes it elsewhere (`Japan`, `the`,
`U.S.`), else capitalised (`Lucky`); short words never seen otherwise stay capitals (`LG`, `NYC`). The result has
the same length as the input, character for character, so the model's offsets index the text as given.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict

WORD = re.compile(r"[^\W\d_]+(?:['’.][^\W\d_]+)*\.?")
LINE = re.compile(r"[^\n]+")
# A line is all-caps when this share of its letters are capitals and it has at least this many letters.
CAPS_SHARE = 0.8
CAPS_MIN_LETTERS = 4
# Unseen words up to this long stay capitals: mostly acronyms and team or company initials.
ACRONYM_LENGTH = 3


def is_caps_line(line: str) -> bool:
    """True when the line's letters are (nearly) all capitals: a headline or dateline, not prose."""
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) >= CAPS_MIN_LETTERS and sum(ch.isupper() for ch in letters) >= CAPS_SHARE * len(letters)


def written_forms(text: str, caps_spans: list[tuple[int, int]]) -> dict[str, str]:
    """Lower-cased word → how the article writes it outside all-caps lines (its most frequent form)."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    position = 0
    for start, end in [*caps_spans, (len(text), len(text))]:
        for match in WORD.finditer(text, position, start):
            forms[match.group().lower()][match.group()] += 1
        position = end
    return {lowered: counts.most_common(1)[0][0] for lowered, counts in forms.items()}


def recased_word(word: str, forms: dict[str, str]) -> str:
    """The word as the article writes it, else capitalised, else (short) left in capitals; never a new length."""
    candidate = forms.get(word.lower())
    if candidate is None:
        candidate = word if len(word.rstrip(".")) <= ACRONYM_LENGTH else word[0] + word[1:].lower()
    return candidate if len(candidate) == len(word) else word


def restore_case(text: str) -> str:
    """`text` with every all-caps line recased for the model; other lines, and the length, unchanged."""
    caps_spans = [m.span() for m in LINE.finditer(text) if is_caps_line(m.group())]
    if not caps_spans:
        return text
    forms = written_forms(text, caps_spans)
    pieces: list[str] = []
    position = 0
    for start, end in caps_spans:
        pieces.append(text[position:start])
        pieces.append(WORD.sub(lambda m: recased_word(m.group(), forms), text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
