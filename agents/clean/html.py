"""An HTML page or fragment → its article text and the metadata in its head.

The body comes from `agents.clean.extract` (trafilatura plus rules for the furniture it keeps); when that finds
nothing (a fragment, a page too small to score), the text of the page's block elements is used instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from agents.clean.extract import body_paragraphs

# Page furniture, never article text.
_JUNK = ("script, style, noscript, template, nav, aside, footer, header, form, button, iframe, svg, figure, "
         "figcaption, picture, [role=navigation], [role=complementary], [aria-hidden=true], .share, .social, "
         ".related, .newsletter, .advert, .ad, .comments, #comments")
_BLOCKS = "p, h2, h3, h4, h5, h6, li, blockquote, pre, dd, td"
_PAGE_START = re.compile(r"\s*<(?:!doctype|html|head|body)\b", re.IGNORECASE)
# Where the article usually is, most specific first; the body is the fallback.
_CONTAINERS = ("[itemprop=articleBody]", "article", "main", "[role=main]", "body")
_TITLE_META = ("meta[property='og:title']", "meta[name='twitter:title']")
_DESCRIPTION_META = ("meta[property='og:description']", "meta[name=description]", "meta[name='twitter:description']")
_PUBLISHED_META = (
    "meta[property='article:published_time']", "meta[name='article:published_time']",
    "meta[itemprop=datePublished]", "meta[name=pubdate]", "meta[name=publishdate]", "meta[name=date]",
    "meta[name='DC.date.issued']", "meta[name='dcterms.created']", "meta[property='og:published_time']",
)


@dataclass(frozen=True)
class HtmlPage:
    """The parts of a page the cleaner needs; `text` has one block element per paragraph."""

    text: str
    title: str | None = None
    published: str | None = None
    canonical_url: str | None = None


def is_page(text: str) -> bool:
    """Whether `text` is a whole HTML page (a feed's text field sometimes holds one) rather than an article's text."""
    return _PAGE_START.match(text) is not None


def read_html(html: str) -> HtmlPage:
    """The article text and head metadata of `html`."""
    tree = LexborHTMLParser(html)
    title = _first_meta(tree, _TITLE_META) or _node_text(tree.css_first("h1")) or _node_text(tree.css_first("title"))
    published = _first_meta(tree, _PUBLISHED_META) or _attribute(tree.css_first("time[datetime]"), "datetime")
    canonical = _attribute(tree.css_first("link[rel=canonical]"), "href") or _first_meta(
        tree, ("meta[property='og:url']",))
    description = _first_meta(tree, _DESCRIPTION_META)
    headlines = " ".join(filter(None, (title, _node_text(tree.css_first("title")))))
    paragraphs = body_paragraphs(html, title=headlines or None, description=description)
    if paragraphs:
        text = "\n\n".join(paragraphs)
    else:
        for node in tree.css(_JUNK):
            node.decompose()
        text = _article_text(tree)
    return HtmlPage(text=text, title=title, published=published, canonical_url=canonical)


def _article_text(tree: LexborHTMLParser) -> str:
    container = next((node for selector in _CONTAINERS if (node := tree.css_first(selector)) is not None), None)
    if container is None:  # a fragment without a body element
        return tree.text(separator="\n")
    paragraphs = [text for node in container.css(_BLOCKS) if not _holds_blocks(node) and (text := _node_text(node))]
    # Text outside block elements (a fragment of bare text and <br>s) is kept rather than lost.
    return "\n\n".join(paragraphs) if paragraphs else container.text(separator="\n")


def _holds_blocks(node: LexborNode) -> bool:
    return node.tag in ("li", "blockquote", "dd", "td") and node.css_first("p, li, blockquote, pre") is not None


def _node_text(node: LexborNode | None) -> str | None:
    if node is None:
        return None
    return " ".join(node.text(separator="").split()) or None


def _attribute(node: LexborNode | None, name: str) -> str | None:
    if node is None:
        return None
    value = node.attributes.get(name)
    return value.strip() or None if value else None


def _first_meta(tree: LexborHTMLParser, selectors: tuple[str, ...]) -> str | None:
    return next((value for s in selectors if (value := _attribute(tree.css_first(s), "content"))), None)
