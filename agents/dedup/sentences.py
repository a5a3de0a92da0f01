"""Sentences and their word 3-grams: how dedup tells which sentences an article adds to a story."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence

import numpy as np

from agents.dedup.signatures import ngram_hashes, word_hashes, words_of

MIN_SENTENCE_WORDS = 4
NEW_SENTENCE_MAX_SEEN = 0.5  # a sentence is new when fewer than half of its 3-grams are already in the story

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
    for sentence, sentence_words in zip(found, words, strict=True):
        count = len(sentence_words)
        result.append((sentence, grams[start:start + count - 2] if count >= 3 else []))
        start += count
    return result


def added_sentences(sentences: Sequence[tuple[str, list[int]]], story_trigrams: Collection[int]) -> list[str]:
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


class KnownTrigrams:
    """The 3-grams each story is known to have said, counted over its articles' stored 3-grams.

    A derived cache, never the state: a story's counts (3-gram → how many of its versions hold it) are a function
    of its versions list and those articles' stored 3-grams. An entry is used only while the versions list it was
    built for is the story's current one, and the caller drops it when one of those articles is forgotten; anything
    else is rebuilt. Counts, not a set, so that a story's newest article pushing out its oldest updates the entry
    instead of rebuilding it from every version. Bounded: least recently used stories leave first.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._sets: dict[str, tuple[tuple[int, str, str], Counter[int]]] = {}

    def get(self, story_id: str, versions: Sequence[str],
            build: Callable[[Sequence[str]], Counter[int]]) -> Counter[int]:
        """The story's counts for its current `versions`, built with `build(versions)` when not cached."""
        stamp = _stamp(versions)
        cached = self._sets.pop(story_id, None)
        known = cached[1] if cached is not None and cached[0] == stamp else build(versions)
        self._remember(story_id, stamp, known)
        return known

    def put(self, story_id: str, versions: Sequence[str], known: Counter[int]) -> None:
        """Remember `known` as the story's counts for its new `versions`."""
        self._sets.pop(story_id, None)
        self._remember(story_id, _stamp(versions), known)

    def drop(self, story_id: str) -> None:
        """Forget the story's counts (one of its articles was forgotten)."""
        self._sets.pop(story_id, None)

    def _remember(self, story_id: str, stamp: tuple[int, str, str], known: Counter[int]) -> None:
        self._sets[story_id] = (stamp, known)  # newest last: dicts keep insertion order
        if len(self._sets) > self.size:
            del self._sets[next(iter(self._sets))]


def without(known: Counter[int], grams: Iterable[int]) -> None:
    """Take one article's 3-grams (each once) out of a story's counts; a 3-gram no version holds leaves."""
    for gram in grams:
        count = known[gram] - 1
        if count > 0:
            known[gram] = count
        else:
            known.pop(gram, None)


def _stamp(versions: Sequence[str]) -> tuple[int, str, str]:
    return (len(versions), versions[0], versions[-1]) if versions else (0, "", "")
