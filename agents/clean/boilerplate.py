"""Wire boilerplate: recognised per paragraph, removed from the body and kept as metadata where it is information."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Boilerplate that converters glue to the end of the previous sentence; each match starts a paragraph of its own.
GLUED_MARKERS = re.compile(
    r"(?<!\n\n)(?:To contact the (?:reporters?|editors?|authors?)\b|For more articles like this\b|©\s*\d{4}"
    r"|[-–—]+\s*With assistance from\b|\((?:Updates|Adds|Corrects|Recasts|Rewrites) (?:with|to|for|throughout)\b)"
)

_CONTACT = re.compile(r"To contact the (?:reporters?|editors?|authors?)\b")
_COPYRIGHT = re.compile(r"(?:©|\([cC]\)|Copyright\b)\s*(?:\d{4}|[A-Z])")
_DROPPED = re.compile(r"For more articles like this\b|(?i:reuter)(?:\s+(?i:reuter))*\s*$")
_ASSISTANCE = re.compile(r"[-–—]+\s*(With (?:assistance|reporting) from\b.*)")
_UPDATE_NOTE = re.compile(r"\(((?:Updates|Adds|Corrects|Recasts|Rewrites) [^()]{1,300})\)$")
# A headline that says it re-issues a wire:
# "CORRECTED - X", "(CORRECTED)-X", "<CORRECTED> - X", "UPDATE 2-X", "REFILE-X".
_REVISION_MARK = re.compile(r"^\s*[(<\[]?(CORRECTED|REFILE|UPDATE(?:\s+\d+)?)[)>\]]?\s*[-–—:]\s*(?=\S)",
                            re.IGNORECASE)
_TRANSLATION = re.compile(r"(?:Powered by|Translated by) (?:automated|machine) translation\b", re.IGNORECASE)
# Photo captions end with the agency and photographer: "… REUTERS/Kevin Lamarque", "(AP Photo/Evan Vucci)".
_PHOTO_CREDIT = re.compile(
    r"\b(?:REUTERS|AP Photo|AFP|EPA(?:-EFE)?|Getty Images|Xinhua|Bloomberg)\s*/\s*[A-Z][\w.'’-]*"
    r"(?:[ /][A-Z][\w.'’-]*){0,5}\)?\s*$|^Photographer: "
)
_MAX_CAPTION = 500
# A "Reuter" sign-off (any case: "reuter" too) glued to the end of the last paragraph.
_TRAILER = re.compile(r"(?<=[.!?”\")\d])(?:\s+(?i:reuter))+$")


@dataclass
class WireMetadata:
    """What the boilerplate told us about an article."""

    contacts: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)
    copyright: str | None = None
    update_notes: list[str] = field(default_factory=list)

    @property
    def update_note(self) -> str | None:
        """All "(Updates with …)" notes, in order, as one text."""
        return " ".join(self.update_notes) or None


def take_revision_mark(headline: str) -> tuple[str | None, str]:
    """(the mark, e.g. "CORRECTED" or "UPDATE 2", or None; the headline without it): a revision says what it is."""
    mark = _REVISION_MARK.match(headline)
    if mark is None:
        return None, headline
    return " ".join(mark.group(1).split()), headline[mark.end():]


def separate_boilerplate(paragraphs: list[str], meta: WireMetadata) -> list[str]:
    """The paragraphs a reader would see; the boilerplate's information from the others is added to `meta`."""
    kept = [paragraph for paragraph in paragraphs if not _take_boilerplate(paragraph, meta)]
    if kept:
        kept[-1] = _TRAILER.sub("", kept[-1])
    return kept


def is_boilerplate(paragraph: str) -> bool:
    """Whether `paragraph` is boilerplate (dropped or kept as metadata) rather than article text."""
    return _take_boilerplate(paragraph, WireMetadata())


def _take_boilerplate(paragraph: str, meta: WireMetadata) -> bool:
    """Record `paragraph` in `meta` if it is boilerplate; returns whether it was."""
    if _DROPPED.match(paragraph):
        return True
    if _CONTACT.match(paragraph):
        meta.contacts.append(paragraph)
        return True
    if _COPYRIGHT.match(paragraph) and len(paragraph) < 200:
        meta.copyright = paragraph
        return True
    if update := _UPDATE_NOTE.match(paragraph):
        meta.update_notes.append(update.group(1).strip())
        return True
    if assistance := _ASSISTANCE.fullmatch(paragraph):
        meta.credits.append(assistance.group(1))
        return True
    if len(paragraph) <= _MAX_CAPTION and (_TRANSLATION.fullmatch(paragraph) or _PHOTO_CREDIT.search(paragraph)):
        meta.credits.append(paragraph)
        return True
    return False
