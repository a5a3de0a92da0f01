"""What each story already told: an update or another outlet's copy is a new development only if it adds facts.

A fact is a named entity, a number or a quotation. Dedup hands the alert stage the sentences an article adds to its
story (worded differently counts as added); this module keeps, per story, the entities, numbers and words its
articles carried, and finds which facts of the added sentences are new:
- an entity is new when the story never named it; a one-word name that is a word of a name the story has
  (`Moon` after `Moon Jae-in`, `Trump` after `Donald Trump`) is not;
- a number is new when the story never gave it (`1,200` and `1200` are one number);
- a quotation (at least MIN_QUOTE_WORDS content words between double quotes) is new unless more than half of its
  content words are already in the story: a re-worded copy re-quotes what the story reported.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.rules.conditions import phrase_words
from streams.codecs import pack_hashes, unpack_hashes
from streams.records import TaggedArticle
from streams.times import article_time

MIN_QUOTE_WORDS = 3
QUOTE_CARRIED = 0.5          # a quotation more than half of whose content words the story has is not new
STORY_WORDS_KEPT = 20_000    # content words, and numbers, and entities, remembered per story; the first ones stay
DECISIONS_KEPT = 64          # per story, the latest articles' decisions, so a replay decides the same
LINKS_KEPT = 10              # per story, the links of its latest articles, for alerts to point back to

_QUOTATION = re.compile(r"[\"“„«]([^\"“”„«»]+)[\"”»]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he her his i if in into is it its me my no not of on "
    "or our she so than that the their them there these they this those to us was we were what when which who will "
    "with would you your".split())


@dataclass(frozen=True)
class Fact:
    """One fact an article adds to its story."""

    kind: str   # "entity", "number" or "quote"
    text: str

    def __str__(self) -> str:
        return f"“{self.text}”" if self.kind == "quote" else self.text


@dataclass(frozen=True)
class Development:
    """What an article adds to its story: its new facts, and the added sentences that carry them."""

    facts: tuple[Fact, ...]
    sentences: tuple[str, ...]

    def summary(self, most: int = 8) -> str:
        """The alert's "why now": how many facts are new, the first `most` of them."""
        shown = ", ".join(str(fact) for fact in self.facts[:most])
        more = f" and {len(self.facts) - most} more" if len(self.facts) > most else ""
        return f"{len(self.facts)} new fact{'s' * (len(self.facts) != 1)}: {shown}{more}"


NOTHING_NEW = Development((), ())


class StoryFacts:
    """Per story, the facts its articles carried; `development(article)` says what an article adds, then keeps it.

    `stories` maps story id → entry; in production the alert agent's Faust table (the tagged topic is keyed by
    story, so a story's entry lives on its partition), in tests a dict. An entry remembers its latest deliveries'
    decisions, so an article replayed after a crash gets the decision it got the first time (the same text ingested
    again is a duplicate, which adds nothing).
    """

    def __init__(self, stories: MutableMapping[str, dict[str, Any]]) -> None:
        self.stories = stories

    def development(self, article: TaggedArticle, words: Collection[str] | None = None) -> Development:
        """The new facts of `article`'s added sentences (none for a new story or a duplicate); folds it in.

        `words`: the article's distinct words (`phrase_words` of its text), when the caller has them already.
        """
        if article.verdict.kind == "duplicate":
            return NOTHING_NEW
        story_id = article.verdict.story_id
        entry = self.stories.get(story_id) or {"entities": [], "numbers": [], "words": "", "links": [], "decided": {}}
        decided = entry["decided"].get(article.article.delivery_key)
        if decided is not None:
            return _replayed(decided, article.verdict.added_sentences)
        found = NOTHING_NEW
        if article.verdict.kind in ("update", "same_story"):
            found = new_facts(article, entry)
        distinct = words if words is not None else set(phrase_words(article.article.full_text))
        self.stories[story_id] = _folded(entry, article, found, distinct)
        return found

    def earlier_links(self, story_id: str, article_url: str | None) -> list[str]:
        """Links to the story's other articles, the newest first: where a reader catches up on it."""
        links = (self.stories.get(story_id) or {}).get("links", [])
        return [url for url in reversed(links) if url != article_url]

    def forget(self, story_id: str) -> None:
        """Drop a story whose articles dedup no longer links to (see the alert agent's expiry)."""
        self.stories.pop(story_id, None)


def new_facts(article: TaggedArticle, entry: dict[str, Any]) -> Development:
    """The facts of the article's added sentences that the story `entry` does not have yet."""
    known_names = set(entry["entities"])
    name_words = {word for name in known_names if " " in name for word in name.split()}
    known_numbers = set(entry["numbers"])
    known_words = set(unpack_hashes(entry["words"]).tolist()) if entry["words"] else set()
    facts: dict[Fact, None] = {}
    sentences = []
    for sentence in article.verdict.added_sentences:
        found = [Fact("number", n) for n in numbers_in(sentence) if n not in known_numbers]
        for mention in article.entities:
            name = mention.canonical.casefold()
            if name in known_names or name in name_words or not _names(sentence, mention.text):
                continue
            found.append(Fact("entity", mention.canonical))
        for quotation in _QUOTATION.findall(sentence):
            words = content_word_hashes(phrase_words(quotation))
            if len(words) >= MIN_QUOTE_WORDS and len(words & known_words) <= QUOTE_CARRIED * len(words):
                found.append(Fact("quote", " ".join(quotation.split())))
        if found:
            sentences.append(sentence)
            facts.update(dict.fromkeys(found))
    return Development(tuple(facts), tuple(sentences))


def numbers_in(text: str) -> list[str]:
    """The numbers written in `text`, digit groupings removed: "1,200" and "1200" are one number."""
    return [number.replace(",", "").rstrip(".") for number in _NUMBER.findall(text)]


def content_word_hashes(words: Collection[str]) -> set[int]:
    """crc32 of distinct words without the commonest function words: what a re-wording keeps."""
    crc32 = zlib.crc32
    return {crc32(word.encode()) for word in set(words) - _STOPWORDS}


def _names(sentence: str, written: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(written)}(?!\w)", sentence) is not None


def _folded(entry: dict[str, Any], article: TaggedArticle, found: Development, words: Collection[str],
            ) -> dict[str, Any]:
    text = article.article.full_text
    entities = list(dict.fromkeys([*entry["entities"], *(m.canonical.casefold() for m in article.entities)]))
    numbers = list(dict.fromkeys([*entry["numbers"], *numbers_in(text)]))[:STORY_WORDS_KEPT]
    known = unpack_hashes(entry["words"]).tolist() if entry["words"] else []
    known = list(dict.fromkeys([*known, *sorted(content_word_hashes(words))]))[:STORY_WORDS_KEPT]
    added = article.verdict.added_sentences
    decision = {"facts": [[fact.kind, fact.text] for fact in found.facts],
                "sentences": [added.index(sentence) for sentence in found.sentences]}
    decided = {**entry["decided"], article.article.delivery_key: decision}
    url = article.article.url
    links = [link for link in entry.get("links", []) if link != url] + ([url] if url else [])
    return {"entities": entities[:STORY_WORDS_KEPT], "numbers": numbers, "words": pack_hashes(known), "links": links[-LINKS_KEPT:],
            "decided": dict(list(decided.items())[-DECISIONS_KEPT:]), "seen": article_time(article.article).timestamp()}


def _replayed(decided: dict[str, Any], added: Sequence[str]) -> Development:
    return Development(tuple(Fact(kind, text) for kind, text in decided["facts"]),
                       tuple(added[i] for i in decided["sentences"] if i < len(added)))


def stale_stories(stories: Iterable[tuple[str, dict[str, Any]]], newest: float, retention: float) -> list[str]:
    """Stories whose latest article is more than `retention` seconds older than `newest`: dedup forgot them."""
    return [story_id for story_id, entry in stories if entry and newest - entry.get("seen", newest) > retention]
