"""Tagging deduped articles: the one function both the tag agent and `wirewatch process` call."""
from __future__ import annotations

from collections.abc import Sequence

from spacy.language import Language

from agents.tag.core import tag_texts
from streams.records import DedupedArticle, TaggedArticle


def tag_articles(nlp: Language, items: Sequence[DedupedArticle], batch_size: int) -> list[TaggedArticle]:
    """Tag each article's title and body in one `nlp.pipe` pass; duplicates carry nothing new and pass untagged."""
    to_tag = [item for item in items if item.verdict.kind != "duplicate"]
    mentions = iter(tag_texts(nlp, [item.article.full_text for item in to_tag], batch_size))
    return [TaggedArticle(article=item.article, verdict=item.verdict,
                          entities=[] if item.verdict.kind == "duplicate" else next(mentions))
            for item in items]
