"""The start of a wire story: byline, dateline and the "(Bloomberg) —" source marker."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SOURCE_MARKER = re.compile(r"\((?P<source>[A-Z][A-Za-z.&' ]{1,30})\)\s*(?:[-–—]{1,2}|:)\s*")
# "OSAKA, Japan (Reuters) - ", "SALVADOR, Feb 26 - ", "WEST HARTFORD, Conn., Feb 26 - "; bounded parts, tried
# only at a paragraph start.
_DATELINE = re.compile(
    r"(?P<place>[A-Z][A-Za-z.'’ -]{1,40}?(?:,\s*[A-Z][A-Za-z.'’ ]{0,25}?)?)"
    r"(?:,?\s*(?P<date>(?i:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}"
    r"|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?)))?"
    r"\s*(?:\((?P<source>[A-Z][A-Za-z.&' ]{1,30})\))?\s*[-–—]{1,2}\s+"
)
_BYLINE = re.compile(r"By (?P<name>[A-Z][\w'’.-]*(?:,? (?:and )?[A-Z][\w'’.-]*){0,7})")
_DASH_NEAR_START = re.compile(r"[-–—]")


@dataclass(frozen=True)
class Lead:
    """What the opening of a paragraph said about the story, and the paragraph without it."""

    rest: str
    dateline: str | None = None
    source: str | None = None


def read_lead(paragraph: str) -> Lead | None:
    """The dateline or source marker opening `paragraph`, or None when it opens with neither."""
    if marker := _SOURCE_MARKER.match(paragraph):
        return Lead(rest=paragraph[marker.end():], source=marker.group("source").strip())
    if not _DASH_NEAR_START.search(paragraph, 0, 90):
        return None
    dateline = _DATELINE.match(paragraph)
    # A place alone before a dash is too often an ordinary sentence; a date or a wire name makes it a dateline.
    if dateline is None or not (dateline.group("date") or dateline.group("source")):
        return None
    source = dateline.group("source")
    return Lead(rest=paragraph[dateline.end():], dateline=dateline.group("place").strip(" ,"),
                source=source.strip() if source else None)


def read_byline(paragraph: str) -> str | None:
    """The names in a "By Jane Doe" paragraph, or None."""
    byline = _BYLINE.fullmatch(paragraph) if len(paragraph) <= 120 else None
    return byline.group("name") if byline else None
