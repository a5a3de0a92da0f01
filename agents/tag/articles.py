"""Tagging deduped articles: the one function both the tag agent and `wirewatch process` call."""
from __future__ import annotations

from collections.abc import Sequence

import orjson

from agents.tag.core import Tagger
from streams.records import DedupedArticle, TaggedArticle


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
