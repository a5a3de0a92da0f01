"""The clean stage's pure core: a raw article (text or HTML) → the clean article or articles a reader would see."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime

from agents.clean.boilerplate import (GLUED_MARKERS, WireMetadata, is_boilerplate, separate_boilerplate,
                                      take_revision_mark)
from agents.clean.html import HtmlPage, is_page, read_html
from agents.clean.language import detect_language
from agents.clean.lead import Lead, read_byline, read_dateline, read_lead, readable_title
from agents.clean.paragraphs import (break_before, normalise_space, repair_paragraph, repair_text,
                                     split_paragraphs, strip_stray_tags, unglue, unglue_inline)
from streams.deadletter import BadInput
from streams.records import CleanArticle, RawArticle
from streams.times import parse_published

_MAX_HEADLINE = 150
_HEADLINE_END = re.compile(r"[.!?:;,…][”’\"')\]]*$")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
_WORD_BROKEN_AT_HYPHEN = re.compile(r"\w-$")  # "anti-" + "inflation": a compound wrapped at its hyphen


def clean_article(raw: RawArticle) -> list[CleanArticle]:
    """The clean articles in `raw`: one, or one per version when a text holds several versions of a story."""
    page = _page_of(raw)
    body = raw.text if raw.text and not is_page(raw.text) else (page.text if page else "")
    given_dateline = read_dateline(repair_text(raw.dateline)) if raw.dateline else None
    if given_dateline and given_dateline.rest:  # the story's first words, cut off into the dateline field
        body = given_dateline.rest + ("" if _WORD_BROKEN_AT_HYPHEN.search(given_dateline.rest) else " ") + body
    text = break_before(strip_stray_tags(repair_text(body)), GLUED_MARKERS)
    pieces = (piece for paragraph in split_paragraphs(text) for piece in unglue(paragraph))
    paragraphs = [repaired for piece in pieces if (repaired := repair_paragraph(piece))]
    given_title = _clean_title(raw.title) or (_clean_title(page.title) if page else "")
    published = parse_published(raw.published or (page.published if page else None))
    url = raw.url or (page.canonical_url if page else None)
    articles: list[CleanArticle] = []
    for number, version in enumerate(_versions(paragraphs), start=1):
        # Later versions share the first version's headline (the one line above them all).
        default_title = given_title or (articles[0].original_title or articles[0].title if articles else "")
        article = _clean_version(raw, version, title=default_title, published=published, url=url, number=number,
                                 given_dateline=given_dateline, from_page=page is not None)
        if article is not None:
            articles.append(article)
    if not articles:
        what = ", ".join(f"{name} {value}" for name, value in (("id", raw.id), ("from", raw.origin)) if value)
        raise BadInput("empty_body", f"no article text left after removing boilerplate ({what or 'no id'})")
    return articles


def text_id(source: str | None, paragraphs: list[str]) -> str:
    """A stable id: equal text (ignoring case, punctuation and spacing) from the same source gives the same id."""
    normalised = " ".join(_NOT_ALPHANUMERIC.sub(" ", "\n".join(paragraphs).lower()).split())
    return hashlib.sha256(f"{source or ''}\n{normalised}".encode()).hexdigest()[:16]


def _clean_version(raw: RawArticle, paragraphs: list[str], *, title: str, published: datetime | None,
                   url: str | None, number: int, given_dateline: Lead | None,
                   from_page: bool) -> CleanArticle | None:
    """One version's article, or None when nothing but boilerplate is left of it."""
    meta = WireMetadata()
    # Boilerplate goes first so it cannot hide a byline, and again for what the dateline was glued to.
    paragraphs, byline, lead = _take_opening(separate_boilerplate(paragraphs, meta))
    paragraphs = separate_boilerplate(paragraphs, meta)
    # The feed's own dateline field wins over one read from the text; either may name the wire.
    dateline = given_dateline if given_dateline and given_dateline.place else lead
    source = raw.source or (lead.source if lead else None) or (given_dateline.source if given_dateline else None)
    # The headline is looked for in the text as it will be output, so cleaning the output again finds it again.
    if not title and _is_headline(paragraphs):
        title, paragraphs = paragraphs[0], paragraphs[1:]
    elif from_page and title and paragraphs and _same_words(paragraphs[0], title):  # a page's <h1> repeating it
        paragraphs = paragraphs[1:]
    if not paragraphs:
        return None
    written = title
    revision, title = take_revision_mark(title)
    # Changing case can make new mojibake ("â¡" → "Â¡"), so the readable title is repaired once more.
    readable = repair_paragraph(readable_title(title))
    language = raw.language or detect_language(f"{readable}\n\n" + "\n\n".join(paragraphs[:8]))
    if raw.id:
        article_id = raw.id if number == 1 else f"{raw.id}#v{number}"
    else:
        article_id = text_id(source, paragraphs)
    return CleanArticle(
        id=article_id, title=readable, paragraphs=paragraphs, source=source, published=published, url=url,
        language=language, byline=byline, dateline=dateline.dateline if dateline else None,
        place=dateline.place if dateline else None, original_title=written if readable != written else None,
        update_note=" ".join(note for note in (revision, meta.update_note) if note) or None,
        contacts=meta.contacts, credits=meta.credits, copyright=meta.copyright, origin=raw.origin,
        ingested_at=raw.ingested_at,
    )


def _take_opening(paragraphs: list[str]) -> tuple[list[str], str | None, Lead | None]:
    """The paragraphs without the bylines and dateline that open the story (among headline-like lines), and what
    they said. Everything in the opening is looked at, so cleaning the output again finds nothing more to take."""
    queue, kept, bylines = list(paragraphs), [], []
    taken: Lead | None = None
    while queue:
        if names := read_byline(queue[0]):
            bylines.extend([names] if names not in bylines else [])
            del queue[0]
        elif taken is None and (lead := read_lead(queue[0])):
            taken = lead
            text = lead.rest
            while repeated := read_lead(text):  # a marker doubled by a bad conversion goes with the first
                text = repeated.rest
            queue[0:1] = unglue(text)
        elif _looks_like_headline(queue[0]):
            kept.append(queue.pop(0))
        else:
            break
    return kept + queue, ", ".join(bylines) or None, taken


def _versions(paragraphs: list[str]) -> list[list[str]]:
    """The paragraphs split where a new version of the story starts (a second "(Bloomberg) —" or dateline)."""
    starts = [i for i, paragraph in enumerate(paragraphs) if read_lead(paragraph) is not None]
    if len(starts) < 2:
        return [paragraphs]
    versions = [paragraphs[a:b] for a, b in zip(starts, [*starts[1:], len(paragraphs)])]
    versions[0] = paragraphs[:starts[0]] + versions[0]  # anything before the first version belongs to it
    return versions


def _same_words(first: str, second: str) -> bool:
    return _NOT_ALPHANUMERIC.sub(" ", first).lower().split() == _NOT_ALPHANUMERIC.sub(" ", second).lower().split()


def _is_headline(paragraphs: list[str]) -> bool:
    """Whether the first paragraph is a headline: headline-like and followed by text."""
    return len(paragraphs) >= 2 and _looks_like_headline(paragraphs[0]) and not is_boilerplate(paragraphs[0])


def _looks_like_headline(paragraph: str) -> bool:
    """Short, not a sentence, not a byline or dateline."""
    return (len(paragraph) <= _MAX_HEADLINE and not _HEADLINE_END.search(paragraph)
            and read_lead(paragraph) is None and read_byline(paragraph) is None)


def _clean_title(title: str | None) -> str:
    if not title:
        return ""
    return unglue_inline(normalise_space(strip_stray_tags(repair_text(title))))


def _page_of(raw: RawArticle) -> HtmlPage | None:
    if raw.html:
        return read_html(raw.html)
    if raw.text and is_page(raw.text):
        return read_html(raw.text)
    return None

