"""Sentences and their word 3-grams: how dedup tells which sentences an article adds to a story."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from agents.dedup.signatures import ngram_hashes, word_hashes, words_of

MIN_SENTENCE_WORDS = 4
NEW_SENTENCE_MAX_SEEN = 0.5  # a sentence is new when fewer than half of its 3-grams are already in the story
STORY_TRIGRAM_CAP = 20_000

# A split point: sentence punctuation, optional closing quotes/brackets, whitespace, then a capital or opening quote.
_BOUNDARY = re.compile(r"""(?<=[.!?])(["'”’)\]]*)\s+(?=["'“‘(\[]*[A-Z0-9])""")
# The word before a full stop that must not end a sentence: initialisms (U.S., J.) and common abbreviations.
_INITIALISM = re.compile(r"(?:\b[A-Za-z]\.)+$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen col lt sgt capt gov sen rep rev inc corp co ltd no vs etc "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph, split on . ! ? before a capital; initialisms and abbreviations never end one."""
    sentences: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(paragraph):
        end = boundary.start() + len(boundary.group(1))
        before = paragraph[start:boundary.start()]
        last_word = before.rsplit(None, 1)[-1] if before.strip() else ""
        if before.endswith(".") and (_INITIALISM.search(last_word)
                                     or last_word[:-1].lower().lstrip("(\"'“‘") in _ABBREVIATIONS):
            continue
        sentences.append(paragraph[start:end].strip())
        start = boundary.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def sentence_trigrams(paragraphs: Iterable[str]) -> list[tuple[str, list[int]]]:
    """Each sentence of the paragraphs with the 48-bit hashes of its normalised word 3-grams (none under 3 words).

    48 bits: exact in any JSON reader's numbers. The article's words are hashed in one vectorised pass.
    """
    found = [sentence for paragraph in paragraphs for sentence in split_sentences(paragraph)]
    words = [words_of(sentence) for sentence in found]
    flat = [word for sentence_words in words for word in sentence_words]
    grams = (ngram_hashes(word_hashes(flat), 3) >> np.uint64(16)).tolist() if len(flat) >= 3 else []
    result, start = [], 0
    for sentence, sentence_words in zip(found, words):
        count = len(sentence_words)
        result.append((sentence, grams[start:start + count - 2] if count >= 3 else []))
        start += count
    return result


def added_sentences(sentences: Sequence[tuple[str, list[int]]], story_trigrams: set[int]) -> list[str]:
    """Sentences (of at least MIN_SENTENCE_WORDS words) the story did not have, in article order, each once."""
    added: list[str] = []
    seen_grams: set[tuple[int, ...]] = set()
    for sentence, grams in sentences:
        # n words give n - 2 trigrams; equal trigram lists mean the same normalised sentence
        if len(grams) < MIN_SENTENCE_WORDS - 2 or tuple(grams) in seen_grams:
            continue
        seen_grams.add(tuple(grams))
        known = sum(1 for g in grams if g in story_trigrams)
        if known < NEW_SENTENCE_MAX_SEEN * len(grams):
            added.append(sentence)
    return added


def article_trigrams(sentences: Sequence[tuple[str, list[int]]]) -> list[int]:
    """Every 3-gram hash of an article's sentences, each once, in text order."""
    return list(dict.fromkeys(g for _, grams in sentences for g in grams))


def merged_trigrams(story_trigrams: Sequence[int], new: Iterable[int], cap: int = STORY_TRIGRAM_CAP,
                    present: set[int] | None = None) -> list[int]:
    """The story's 3-gram list with `new` appended (no repeats), keeping the newest `cap` entries.

    Keeping the newest: an update is judged against what the story said most recently. `present` is the list as a
    set, when the caller has it.
    """
    present = set(story_trigrams) if present is None else present
    merged = list(story_trigrams) + [g for g in dict.fromkeys(new) if g not in present]
    return merged[-cap:]


class TrigramSets:
    """Stories' 3-gram lists as sets, built once per state of a list rather than once per article that meets it.

    A derived cache, never the state: a list is only ever appended to and cut from the front, so its length with
    its first and last value identify which state a cached set belongs to; anything else is rebuilt.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._sets: dict[str, tuple[tuple[int, int, int], set[int]]] = {}

    def get(self, story_id: str, trigrams: Sequence[int]) -> set[int]:
        """The set of `trigrams`, the story's current list."""
        stamp = _stamp(trigrams)
        cached = self._sets.pop(story_id, None)
        known = cached[1] if cached is not None and cached[0] == stamp else set(trigrams)
        self._remember(story_id, stamp, known)
        return known

    def put(self, story_id: str, trigrams: Sequence[int], known: set[int]) -> None:
        """Remember `known` as the set of the story's new list `trigrams`."""
        self._sets.pop(story_id, None)
        self._remember(story_id, _stamp(trigrams), known)

    def _remember(self, story_id: str, stamp: tuple[int, int, int], known: set[int]) -> None:
        self._sets[story_id] = (stamp, known)  # newest last: dicts keep insertion order
        if len(self._sets) > self.size:
            del self._sets[next(iter(self._sets))]


def _stamp(trigrams: Sequence[int]) -> tuple[int, int, int]:
    return (len(trigrams), trigrams[0], trigrams[-1]) if trigrams else (0, 0, 0)
