"""Live-feed lines for a terminal: one short block per article or alert, plain text or ANSI-coloured."""
from __future__ import annotations

from collections import Counter

from agents.sinks.text import shorten, visible
from streams.records import Alert, DedupedArticle, TaggedArticle

HEADINGS = {"new": "NEW STORY", "update": "UPDATE", "same_story": "SAME STORY", "duplicate": "DUPLICATE"}
COLOURS = {"new": "1;32", "update": "1;33", "same_story": "36", "duplicate": "2", "alert": "1;31"}
INDENT = " " * 12
TITLE_WIDTH = 90
SENTENCE_WIDTH = 140
MAX_SENTENCES = 3
MAX_ENTITIES = 5


def format_article(item: TaggedArticle | DedupedArticle, *, colour: bool = False) -> str:
    """The feed block for an article: a heading line, then top entities and at most three added sentences."""
    article, verdict = item.article, item.verdict
    title = shorten(article.title, TITLE_WIDTH)
    source = f" — {visible(article.source)}" if article.source else ""
    heading = HEADINGS.get(verdict.kind, verdict.kind.upper())
    if verdict.kind == "duplicate":
        return _paint(f"{heading} of {_short_id(verdict.matched_id or '?')}  {title}{source}", "duplicate", colour)
    lines = [_paint(f"{heading:<11}", verdict.kind, colour) + f" [story {_short_id(verdict.story_id)}] {title}{source}"]
    entities = top_entities(item) if isinstance(item, TaggedArticle) else []
    if entities:
        lines.append(INDENT + "entities: " + ", ".join(entities))
    if verdict.kind != "new":
        lines += _sentence_lines(verdict.added_sentences)
    return "\n".join(lines)


def format_alert(alert: Alert, *, colour: bool = False) -> str:
    """The feed block for an alert: rule and trigger, why it matched, and what is new."""
    source = f" — {visible(alert.source)}" if alert.source else ""
    lines = [_paint(f"ALERT {alert.rule_id} ({alert.trigger})", "alert", colour)
             + f" [story {_short_id(alert.story_id)}] {shorten(alert.title, TITLE_WIDTH)}{source}",
             INDENT + shorten(alert.description, SENTENCE_WIDTH)]
    reasons = []
    if alert.matched_entities:
        reasons.append("entities: " + ", ".join(visible(e) for e in alert.matched_entities))
    if alert.matched_keywords:
        reasons.append("keywords: " + ", ".join(visible(k) for k in alert.matched_keywords))
    if reasons:
        lines.append(INDENT + " · ".join(reasons))
    if alert.detail:
        lines.append(INDENT + shorten(alert.detail, SENTENCE_WIDTH))
    lines += _sentence_lines(alert.new_sentences)
    if alert.url:
        lines.append(INDENT + shorten(alert.url, SENTENCE_WIDTH))
    return "\n".join(lines)


def top_entities(item: TaggedArticle, limit: int = MAX_ENTITIES) -> list[str]:
    """`Name (LABEL ×mentions)` for the most mentioned entities, ties in order of first mention."""
    counts = Counter(mention.canonical for mention in item.entities)
    labels = item.canonical_entities
    ranked = sorted(counts, key=lambda name: -counts[name])  # sorted is stable: ties keep first-mention order
    return [f"{visible(name)} ({labels[name]} ×{counts[name]})" for name in ranked[:limit]]


def _sentence_lines(sentences: list[str]) -> list[str]:
    lines = [f"{INDENT}+ {shorten(s, SENTENCE_WIDTH)}" for s in sentences[:MAX_SENTENCES]]
    if len(sentences) > MAX_SENTENCES:
        lines.append(f"{INDENT}  (+{len(sentences) - MAX_SENTENCES} more)")
    return lines


def _short_id(identifier: str) -> str:
    return visible(identifier[:8]) + "…" if len(identifier) > 8 else visible(identifier)


def _paint(text: str, kind: str, colour: bool) -> str:
    return f"\x1b[{COLOURS[kind]}m{text}\x1b[0m" if colour and kind in COLOURS else text
