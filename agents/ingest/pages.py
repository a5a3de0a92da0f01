"""Articles too large for a Kafka message made to fit at the edge, before they are sent.

A news page of several megabytes is mostly scripts, styles, inline SVG and images, none of which the clean stage
reads: without them it is a few hundred kilobytes (the 92 pages of the extraction benchmark's development half read
the same with and without). Next go elements with no text at all (a grid of empty promo boxes). A page still too
large after that is read here, with the clean stage's own reader, and travels as its text and head metadata. What
is still too large (a text of a megabyte) is refused with `too_large` by the caller.
"""
from __future__ import annotations

import re
from typing import Any

import orjson

from agents.clean.html import is_page, read_html
from streams.raw import FIELD_ALIASES

# Elements whose content the clean stage never reads (see agents.clean.html), and comments: found by their opening,
# then the first closing after it, as an HTML parser does; one pass, so unclosed openings cannot make it quadratic.
_NOT_READ_OPENING = re.compile(rb"<(script|style|svg|template)\b|<!--", re.IGNORECASE)
_DATA_URI = re.compile(rb"""(["'])data:[^"'>\s]*\1""")  # inline images and fonts in attributes
# An element holding nothing but white space, except those whose attributes the clean stage reads (`time`) or whose
# place matters although empty (table cells).
_EMPTY_ELEMENT = re.compile(rb"<(?!(?:time|td|th|title|iframe|video|audio|object|canvas|textarea)\b)([a-zA-Z][\w-]*)\b"
                            rb"[^>]*>\s*</\1\s*>", re.IGNORECASE)
_EMPTY_NESTING = 8  # passes: each removes one level of nested empty elements


def slim_page(html: str) -> str:
    """`html` without what the clean stage does not read: scripts, styles, SVG, templates, comments, data URIs."""
    data = html.encode()
    lowered = data.lower()
    kept, position = [], 0
    for opening in _NOT_READ_OPENING.finditer(lowered):
        if opening.start() < position:  # inside what was just removed
            continue
        kept.append(data[position:opening.start()])
        closing = b"-->" if opening[1] is None else b"</" + opening[1]
        end = lowered.find(closing, opening.end())
        if end < 0:  # never closed: a parser reads the rest as its content
            position = len(data)
            break
        position = (lowered.find(b">", end) + 1) or len(data)
    kept.append(data[position:])
    return _DATA_URI.sub(b'""', b"".join(kept)).decode()


def fit_raw_value(value: bytes, max_bytes: int) -> bytes:
    """`value`, or the same article made smaller when it exceeds `max_bytes` and holds a page; else unchanged.

    First the page is slimmed (`slim_page`), then its empty elements go; if that is not enough, it is read here and
    replaced by its text, with the title, publish time and URL the page gave where the article had none.
    """
    if len(value) <= max_bytes:
        return value
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    field = _page_field(obj) if isinstance(obj, dict) else None
    if field is None:
        return value
    slimmed = {**obj, field: slim_page(obj[field])}
    for smaller in (slimmed, {**slimmed, field: _without_empty_elements(slimmed[field])}):
        if len(value := orjson.dumps(smaller)) <= max_bytes:
            return value
    return orjson.dumps(_read_here(smaller, field))


def _without_empty_elements(html: str) -> str:
    data = html.encode()
    for _ in range(_EMPTY_NESTING):
        data, removed = _EMPTY_ELEMENT.subn(b"", data)
        if not removed:
            break
    return data.decode()


def _page_field(obj: dict[str, Any]) -> str | None:
    """The field holding the article's page: an html field, or a text field that is a whole page."""
    for name in FIELD_ALIASES["html"]:
        if isinstance(obj.get(name), str) and obj[name]:
            return name
    text = next((name for name in FIELD_ALIASES["text"] if obj.get(name) not in (None, "")), None)
    if text is not None and isinstance(obj[text], str) and is_page(obj[text]):
        return text
    return None


def _read_here(obj: dict[str, Any], field: str) -> dict[str, Any]:
    """`obj` with its page replaced by what the clean stage would have read from it."""
    page = read_html(obj[field])
    read = {name: value for name, value in obj.items() if name not in FIELD_ALIASES["html"] and name != field}
    given_text = next((name for name in FIELD_ALIASES["text"] if read.get(name) not in (None, "")), None)
    if given_text is None:
        read["text"] = page.text
    for name, value in (("title", page.title), ("published", page.published), ("url", page.canonical_url)):
        if value and not any(read.get(alias) not in (None, "") for alias in FIELD_ALIASES[name]):
            read[name] = value
    return read
