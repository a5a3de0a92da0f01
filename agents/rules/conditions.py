"""Rule conditions over one tagged article, matched in linear time and indexed so 1,000 rules stay cheap.

No user text becomes a regular expression: a keyword phrase is a sequence of words, found through the article's
word positions (case-insensitive, whole words, punctuation and spacing between words ignored). Each condition
also names the *atoms* it needs (an entity name, a phrase's longest word, a source, a language): a rule is only
evaluated on articles holding one of its atoms, unless it can match without any (a bare `not`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from streams.records import TaggedArticle

WORD = re.compile(r"\w+")
Atom = tuple[str, str]  # (kind, casefolded value): ("entity", "kim jong un"), ("word", "summit"), ...


def phrase_words(phrase: str) -> tuple[str, ...]:
    """The casefolded words of a phrase or text, as keyword matching compares them."""
    return tuple(WORD.findall(phrase.casefold()))


@dataclass(frozen=True)
class RuleMatch:
    """Why a rule matched: the article's canonical entities and the keywords it hit."""

    matched_entities: tuple[str, ...] = ()
    matched_keywords: tuple[str, ...] = ()


class ArticleView:
    """What conditions look at, computed once per article: words and their positions, entity names, source."""

    def __init__(self, tagged: TaggedArticle) -> None:
        self.words = phrase_words(tagged.article.full_text)
        self.positions: dict[str, list[int]] = {}
        for index, word in enumerate(self.words):
            self.positions.setdefault(word, []).append(index)
        self.source = (tagged.article.source or "").strip().casefold()
        self.language = (tagged.article.language or "").strip().casefold()
        # Name as written or canonical (casefolded) → (canonical, label): a rule may name either.
        self.entities: dict[str, set[tuple[str, str]]] = {}
        for mention in tagged.entities:
            for name in (mention.canonical, mention.text):
                key = " ".join(name.casefold().split())
                self.entities.setdefault(key, set()).add((mention.canonical, mention.label))

    def has_phrase(self, words: tuple[str, ...], anchor: int = 0) -> bool:
        """True when the words occur in this order, adjacent; looked up at the positions of `words[anchor]`."""
        width = len(words)
        return any(self.words[at - anchor:at - anchor + width] == words
                   for at in self.positions.get(words[anchor], ()) if at >= anchor)

    def atoms(self) -> Iterator[Atom]:
        """Every atom the article holds, for the rule index."""
        yield from (("entity", name) for name in self.entities)
        yield from (("word", word) for word in self.positions)
        yield ("source", self.source)
        yield ("language", self.language)


@dataclass(frozen=True)
class Entities:
    """Matches when the article mentions any of `targets` (canonical names or aliases, with an optional label)."""

    targets: tuple[EntityTarget, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        found: list[str] = []
        for target in self.targets:
            for name in target.names:
                found += sorted(canonical for canonical, label in view.entities.get(name, ())
                                if target.label is None or label == target.label)
        return RuleMatch(matched_entities=_unique(found)) if found else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        return frozenset(("entity", name) for target in self.targets for name in target.names)


@dataclass(frozen=True)
class EntityTarget:
    """One entity a rule watches: its names (canonical and aliases, casefolded, single-spaced) and a label."""

    names: tuple[str, ...]
    label: str | None = None


@dataclass(frozen=True)
class Keywords:
    """Matches when title or body contains any phrase as whole words, case-insensitively."""

    phrases: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]
    anchors: tuple[int, ...]  # per phrase, its longest word: likely the rarest ("crude" of "crude oil")

    @classmethod
    def of(cls, phrases: Iterable[str]) -> Keywords:
        phrases = tuple(phrases)
        words = tuple(phrase_words(p) for p in phrases)
        return cls(phrases, words, tuple(max(range(len(w)), key=lambda i: len(w[i])) for w in words))

    def match(self, view: ArticleView) -> RuleMatch | None:
        hits = tuple(p for p, words, anchor in zip(self.phrases, self.words, self.anchors, strict=True)
                     if view.has_phrase(words, anchor))
        return RuleMatch(matched_keywords=hits) if hits else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        return frozenset(("word", words[anchor]) for words, anchor in zip(self.words, self.anchors, strict=True))


@dataclass(frozen=True)
class Sources:
    """Matches when the article's source is one of `names` (casefolded, exact)."""

    names: frozenset[str]

    def match(self, view: ArticleView) -> RuleMatch | None:
        return RuleMatch() if view.source in self.names else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        return frozenset(("source", name) for name in self.names)


@dataclass(frozen=True)
class Languages:
    """Matches when the article's language (ISO 639-1, as the clean stage detects it) is one of `codes`."""

    codes: frozenset[str]

    def match(self, view: ArticleView) -> RuleMatch | None:
        return RuleMatch() if view.language in self.codes else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        return frozenset(("language", code) for code in self.codes)


@dataclass(frozen=True)
class AllOf:
    """Matches when every part matches; explains itself with everything the parts matched."""

    parts: tuple[Condition, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        matches = []
        for part in self.parts:
            found = part.match(view)
            if found is None:
                return None
            matches.append(found)
        return _merge(matches)

    def needed_atoms(self) -> frozenset[Atom] | None:
        # Every part must match, so the atoms of any one part that needs some will do: the fewest are the best.
        needs = [atoms for part in self.parts if (atoms := part.needed_atoms()) is not None]
        return min(needs, key=len) if needs else None


@dataclass(frozen=True)
class AnyOf:
    """Matches when at least one part matches; explains itself with every part that did."""

    parts: tuple[Condition, ...]

    def match(self, view: ArticleView) -> RuleMatch | None:
        matches = [found for part in self.parts if (found := part.match(view)) is not None]
        return _merge(matches) if matches else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        needs = [part.needed_atoms() for part in self.parts]
        known = [atoms for atoms in needs if atoms is not None]
        return frozenset[Atom]().union(*known) if len(known) == len(needs) else None


@dataclass(frozen=True)
class Not:
    """Matches when `part` does not; contributes nothing to the explanation."""

    part: Condition

    def match(self, view: ArticleView) -> RuleMatch | None:
        return RuleMatch() if self.part.match(view) is None else None

    def needed_atoms(self) -> frozenset[Atom] | None:
        return None  # matches articles that hold none of the part's atoms


Condition = Entities | Keywords | Sources | Languages | AllOf | AnyOf | Not


def _merge(matches: Iterable[RuleMatch]) -> RuleMatch:
    matches = list(matches)
    return RuleMatch(
        matched_entities=_unique(e for m in matches for e in m.matched_entities),
        matched_keywords=_unique(k for m in matches for k in m.matched_keywords),
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
