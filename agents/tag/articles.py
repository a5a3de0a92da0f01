"""Tagging deduped articles: the one function both the tag agent and `wirewatch process` call."""
from __future__ import annotations

from collections.abc import Sequence

from agents.tag.core import Tagger
from streams.records import DedupedArticle, TaggedArticle


def tag_articles(tagger: Tagger, items: Sequence[DedupedArticle]) -> list[TaggedArticle]:
    """Tag each article's title and body in one pass; a duplicate gets its original's entities.

    It costs no model time: its paragraphs were read with the original (same story, so same tag worker).
    """
    mentions = tagger.tag([item.article.full_text for item in items])
    return [TaggedArticle(article=item.article, verdict=item.verdict, entities=found)
            for item, found in zip(items, mentions)]
