"""A whole HTML page → the paragraphs of its article body: trafilatura finds the body; rules around it remove the
classes of page furniture trafilatura keeps.

Classes of non-body content removed (each a rule over many sites, none tuned to one page):
- hidden and hover-card content (`hidden`, `display:none`, rollover/tooltip/popover blocks) that would otherwise be
  glued into the sentence around the link it belongs to;
- newsletter, subscription and sign-up boxes (by class/id in the DOM, by their wording in the text);
- "Related" / "Read more" / "Don't miss" link lists: label blocks, and paragraphs and list items that are all link;
- figure captions and image credits (figcaption, caption/credit classes);
- headline and standfirst repeated as headings above the first paragraph;
- author contact and credit trailers ("Follow him on Twitter @…", "X contributed to this report", "Have a tip?").
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.settings import Document

# Elements whose class or id names them as furniture; matched on whole words of class/id, case-insensitive.
_FURNITURE_WORDS = re.compile(
    r"(?:^|[\s_-])(?:newsletter|newsletters|subscribe|subscription|signup|sign-up|"
    r"figcaption|caption|credit|credits|related|share|sharing|social)(?:$|[\s_-])", re.IGNORECASE)
# Hover cards: the innermost element so named is the card; the link it hangs on (and its wrapper) stay.
_HOVER_WORDS = re.compile(r"rollover|tooltip|popover|hovercard", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_ATTRIBUTED = "//body//*[@class or @id or @hidden or @style]"
_LINKED_BLOCKS = "//body//p[.//a] | //body//li[.//a]"
_LINK_SHARE = 0.8               # a block whose text is at least this share link text is a link, not prose
_LABEL = re.compile(
    r"^(?:related|related (?:stories|articles|content|coverage|links)|read more|see more|more|also read|read also|"
    r"don'?t miss|recommended|you may also like|you might also like|trending|more on this|more stories|"
    r"related news|related posts?|most popular|most read(?: in [\w ]+)?|tags?|comments)\W*$", re.IGNORECASE)
_LABEL_PREFIX = re.compile(r"^(?:related(?: \w+)?|read more|see more|also read|read also|more|watch|listen)\s*:",
                           re.IGNORECASE)
_LABELLED_LINK_MAX = 150        # "Related: <headline>" stays short; a longer text after a label is prose
# Promotion and contact lines; only short paragraphs are tested, so a story about newsletters keeps its text.
_PROMO = re.compile(
    r"\bnewsletters?\b|\bsubscribe\b|\bsign up\b|\bin your inbox\b|\bfollow (?:him|her|them|us|me) on\b|"
    r"\bcontributed (?:to )?(?:this report|reporting)\b|\bhave a tip\b|\bmay be reached at\b|"
    r"^\(?(?:additional )?(?:reporting|writing|editing) by\b|\breach the reporters?\b|\bfull coverage of\b|"
    r"\btell us what you think\b",
    re.IGNORECASE)
_PROMO_MAX = 300
_NON_WORD = re.compile(r"\W+")


def body_paragraphs(html: str, *, title: str | None = None, description: str | None = None) -> list[str]:
    """The article's paragraphs in page order; empty when trafilatura finds no body (a fragment, a bare page)."""
    tree = trafilatura.load_html(html)
    if tree is None:
        return []
    _prune(tree)
    document = trafilatura.bare_extraction(tree, include_comments=False, favor_precision=True, include_images=False,
                                           include_tables=True)
    if not isinstance(document, Document) or document.body is None:  # a Document unless asked for a dict
        return []
    blocks = list(_blocks(document.body))
    blocks = _without_leading_headlines(blocks, _key(title or ""), _key(description or ""))
    return [text for _, text in blocks if not _is_promotion(text) and not _is_label(text)]


def _prune(tree: HtmlElement) -> None:
    """Remove hidden content, furniture named by class or id, and link-list blocks from the page."""
    doomed = []
    for element in tree.xpath(_ATTRIBUTED):
        attributes = element.attrib
        names = f"{attributes.get('class', '')} {attributes.get('id', '')}"
        if ("hidden" in attributes or _HIDDEN_STYLE.search(attributes.get("style", ""))
                or _FURNITURE_WORDS.search(names) or (_HOVER_WORDS.search(names) and _is_hover_card(element))):
            doomed.append(element)
    doomed.extend(tree.iter("figcaption"))
    doomed.extend(element for element in tree.xpath(_LINKED_BLOCKS) if _is_link_block(element))
    for element in doomed:
        _drop(element)


def _is_hover_card(element: HtmlElement) -> bool:
    return element.tag != "a" and not any(
        _HOVER_WORDS.search(f"{d.get('class', '')} {d.get('id', '')}") for d in element.iterdescendants(etree.Element))


def _is_link_block(element: HtmlElement) -> bool:
    text = " ".join(element.text_content().split())
    if not text:
        return False
    if _LABEL.match(text):
        return True
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    rest = _LABEL_PREFIX.sub("", text).strip()
    return linked > 0 and linked >= _LINK_SHARE * len(rest)


def _drop(element: HtmlElement) -> None:
    """Remove `element` but keep its tail text, which belongs to the parent."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _blocks(body: etree._Element) -> Iterator[tuple[str, str]]:
    """(tag, text) of each block of trafilatura's body: list items and table rows one block each."""
    for element in body:
        parts: Iterable[etree._Element]
        if element.tag == "list":
            parts = element.iter("item")
        elif element.tag == "table":
            parts = element.iter("row")
        else:
            parts = [element]
        for part in parts:
            if text := _text(part):
                yield str(element.tag), text  # trafilatura's own tag names


def _text(element: etree._Element) -> str:
    """The block's text on one line; line breaks and table cells become spaces."""
    for separator in element.iter("lb", "cell"):
        separator.tail = " " + (separator.tail or "")
    return " ".join("".join(element.itertext()).split())


def _without_leading_headlines(blocks: list[tuple[str, str]], title: str, description: str) -> list[tuple[str, str]]:
    """`blocks` without the blocks opening the body that repeat the page's headline, or headings that repeat its
    standfirst (a paragraph may: the description is often the story's first paragraph, which stays)."""
    start = 0
    while start < len(blocks):
        tag, text = blocks[start]
        if not (_repeats(text, title) or (tag == "head" and _repeats(text, description))):
            break
        start += 1
    return blocks[start:]


def _repeats(text: str, headline: str) -> bool:
    key = _key(text)
    return bool(key) and (key == headline or (len(key) > 20 and key in headline))


def _key(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _is_promotion(text: str) -> bool:
    return len(text) <= _PROMO_MAX and _PROMO.search(text) is not None


def _is_label(text: str) -> bool:
    """A list label ("Related news", "You may also like…") or a labelled link ("Related: <headline>")."""
    return _LABEL.match(text) is not None or (len(text) <= _LABELLED_LINK_MAX and _LABEL_PREFIX.match(text) is not None)
