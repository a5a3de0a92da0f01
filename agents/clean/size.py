"""A clean article kept under a size, so that each later record about it fits one Kafka message.

Tag's record is the largest: the article, the sentences dedup found it added to its story (at most the body again)
and the entity mentions (about half the body's size in news; capped by `agents.tag.core.within_size`). Dedup
keeps the article JSON-escaped in a table while it waits for its index answers (about 1.5 times). An article of a
quarter of the message limit leaves room for all of them; long news runs to 50 KB, the default limit is 200 KB.
"""
from __future__ import annotations

import orjson

from streams.records import CleanArticle

# Room for the fields other than the body, cut first: a headline, or a list of contact or credit lines, longer than
# this is not one.
_MAX_FIELD_CHARS = 2_000
_MAX_LINES_BYTES = 20_000


def within_size(article: CleanArticle, max_bytes: int) -> CleanArticle:
    """`article`, or, when its record exceeds `max_bytes`, the article cut to fit and marked `truncated`.

    The body keeps its first paragraphs whole; the paragraph that crosses the limit is cut at a word.
    """
    if len(article.dumps()) <= max_bytes:
        return article
    article = article.derive(
        title=article.title[:_MAX_FIELD_CHARS],
        original_title=article.original_title and article.original_title[:_MAX_FIELD_CHARS],
        byline=article.byline and article.byline[:_MAX_FIELD_CHARS],
        update_note=article.update_note and article.update_note[:_MAX_FIELD_CHARS],
        contacts=_lines_within(article.contacts), credits=_lines_within(article.credits), truncated=True)
    room = max_bytes - len(article.derive(paragraphs=[]).dumps())
    kept: list[str] = []
    for paragraph in article.paragraphs:
        cost = len(orjson.dumps(paragraph)) + 1  # quotes, escapes and the comma between
        if cost > room:
            if (cut := _cut_at_word(paragraph, room - 8)):
                kept.append(cut)
            break
        kept.append(paragraph)
        room -= cost
    return article.derive(paragraphs=kept or ["…"])


def _lines_within(lines: list[str]) -> list[str]:
    """The first of `lines`, each at most `_MAX_FIELD_CHARS`, up to `_MAX_LINES_BYTES` in all."""
    kept, size = [], 0
    for line in lines:
        line = line[:_MAX_FIELD_CHARS]
        size += len(line.encode()) + 4
        if size > _MAX_LINES_BYTES:
            break
        kept.append(line)
    return kept


def _cut_at_word(paragraph: str, max_bytes: int) -> str:
    """The start of `paragraph` whose JSON string fits `max_bytes`, ended at a word, with an ellipsis; "" if none."""
    head = paragraph.encode()[:max(max_bytes, 0)].decode(errors="ignore")
    while head and len(orjson.dumps(head + " …")) > max_bytes:  # escapes make JSON longer than the text
        head = head[: len(head) * 9 // 10]
    head = head.rsplit(" ", 1)[0] if " " in head else head
    return f"{head.rstrip()} …" if head.strip() else ""
