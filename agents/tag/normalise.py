"""Span-level clean-up of raw NER spans: trim each mention to the name itself, repair cut names, drop junk.

Pure functions over `(start, end, label)` character spans into one text, so they are testable without spaCy.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.tag.lexicon import KEPT_LABELS, Lexicon

Span = tuple[int, int, str]  # (start, end, label): character offsets into the text, end exclusive

# Titles that precede a name; "General", "Justice" are left out because they start organisation names.
TITLES: tuple[str, ...] = (
    "Vice President", "President", "Prime Minister", "Deputy Prime Minister", "Foreign Minister", "Minister",
    "Chairman", "Chairwoman", "Chair", "Chancellor", "Secretary of State", "Secretary", "Senator", "Sen.",
    "Rep.", "Representative", "Governor", "Gov.", "Mayor", "Crown Prince", "Prince", "Princess", "King", "Queen",
    "Emperor", "Pope", "Supreme Leader", "Leader", "leader", "Premier", "Ambassador", "Mr.", "Mrs.", "Ms.",
    "Mr", "Mrs", "Ms", "Dr.", "Dr", "Sir", "Dame", "Lord", "Lady", "Sheikh", "Chief Executive", "CEO",
)
_TITLE = "|".join(re.escape(t) for t in sorted(TITLES, key=len, reverse=True))
LEADING_TITLE = re.compile(rf"(?:(?:{_TITLE})\s+)+(?=[A-Z])")
TITLE_BEFORE = re.compile(rf"(?:^|\s)(?:{_TITLE})\s+$")

# Wire and photo agencies: in capitals they are credits ("REUTERS/Kevin Lamarque"), not news.
WIRE_AGENCIES: frozenset[str] = frozenset(
    {"REUTERS", "REUTER", "AP", "AFP", "BLOOMBERG", "XINHUA", "KYODO", "YONHAP", "TASS", "UPI", "DPA", "ANSA",
     "EFE", "PTI", "ANTARA", "BERNAMA", "EPA", "GETTY", "GETTY IMAGES", "AAP", "ANP"})
_AGENCY = "|".join(re.escape(a) for a in sorted(WIRE_AGENCIES, key=len, reverse=True))
PHOTO_CREDIT_BEFORE = re.compile(rf"\b(?:{_AGENCY})\s*/\s*$")

OPENERS = "\"'“‘«([{<*•—–-"
CLOSERS = "\"'”’»)]}>,;:!?*—–-/"
POSSESSIVE = re.compile(r"(?:['’]s|(?<=s)['’])$")
LEADING_THE = re.compile(r"(?:the|The|THE)\s+")
# A name cut before a joining word ("Group of" + "20") continues over the next word.
CONNECTOR_END = re.compile(r"\s(?:of|for|and|on|de|du|des|da|von|van|bin|al|&)$")
NEXT_WORD = re.compile(r"[ \t]+([A-Z0-9][\w.\-]*\w|[A-Z0-9])")
# A span that stops before a lowercase hyphenated syllable ("Moon Jae" of "Moon Jae-in") continues over it;
# a capitalised tail is another name ("DPRK-U.S."), left to the model.
HYPHEN_TAIL = re.compile(r"-[a-z][\w\-]*")
ARTICLE_BEFORE = re.compile(r"(?:^|\s)(?:a|an|the|The|A|An)\s+$")
# Words that join the parts of one name ("Bank of America", "Mohammed bin Salman"); other lower-case words inside
# a span mean the model ran two names, or a name and its description, together.
JOINING_WORDS = ("of", "the", "and", "for", "on", "de", "du", "des", "da", "do", "dos", "del", "della", "di", "la",
                 "le", "van", "von", "der", "den", "bin", "ibn", "al", "el", "y", "e", "&")
COMPANY_SUFFIXES = ("Inc", "Ltd", "Corp", "Co", "LLC", "L.P.", "plc", "PLC", "N.V.", "S.A.", "AG", "SA", "Jr", "Sr")
# Where a span falls apart into separate names: a spaced dash, a comma (not before a company suffix), brackets, a
# score or number standing alone ("Somerset 83", "Puchon 2 Chonbuk 1"; "Group of 20" keeps its number), and a
# lower-case word that joins nothing ("Yorkshire at Headingley", "Interfax news agency").
# A score right after a name ("Somerset 83 and 174", "Puchon 2 Chonbuk 1", "Kent 108-3"): results copy, where a
# place or a one-word name is a team. Names with initials ("J. Russell 56") are the players.
SCORE_AFTER = re.compile(r"[ \t]+\d+(?:-\d+)?(?=[\s,;)]|$)")
PLACE_LABELS: frozenset[str] = frozenset({"GPE", "LOC", "FAC"})
_JOINING = "|".join(re.escape(w) for w in JOINING_WORDS)
_SUFFIX = "|".join(re.escape(w) for w in COMPANY_SUFFIXES)
NAME_BREAK = re.compile(
    rf"\s+[-–—]+\s+|\s*,(?!\s*(?:{_SUFFIX})\b)\s*|\s*[()\[\]]\s*"
    rf"|(?<=\s)(?<!\bof\s)\d[\d.,:/\-]*(?=\s|$)"
    rf"|(?<=\s)(?!(?:{_JOINING})(?=\s|$))[a-z][a-z'’]*(?=\s|$)")


@dataclass(frozen=True)
class Mention:
    """A trimmed mention: offsets into the text, the model's label, and what we saw around it."""

    start: int
    end: int
    label: str
    name: str               # the mention with whitespace collapsed and titles removed
    titled: bool = False    # a title such as "President" preceded the name
    after_article: bool = False  # "a"/"the" preceded the name: a thing, not a person


def collapse_whitespace(text: str) -> str:
    """The text with each whitespace run (newlines included) turned into one space."""
    return " ".join(text.split())


def trim_span(text: str, start: int, end: int) -> tuple[int, int, bool]:
    """(start, end, titled) of the name inside a span: no quotes, possessive, leading "the", title or spaces."""
    titled = False
    while True:
        before = (start, end)
        while start < end and (text[start].isspace() or text[start] in OPENERS):
            start += 1
        while end > start and (text[end - 1].isspace() or text[end - 1] in CLOSERS):
            end -= 1
        possessive = POSSESSIVE.search(text, start, end)
        if possessive and possessive.start() > start:
            end = possessive.start()
        the = LEADING_THE.match(text, start, end)
        if the and the.end() < end:
            start = the.end()
        title = LEADING_TITLE.match(text, start, end)
        if title and title.end() < end:
            start, titled = title.end(), True
        if (start, end) == before:
            return start, end, titled


def repair_span(text: str, start: int, end: int) -> int:
    """The end of a span the model cut short: over a hyphenated tail or past a dangling "of"/"and"."""
    hyphen_tail = HYPHEN_TAIL.match(text, end)
    if hyphen_tail and end > start and text[end - 1].isalnum():
        end = hyphen_tail.end()
    connector = CONNECTOR_END.search(text, start, end)
    if connector:
        next_word = NEXT_WORD.match(text, end)
        end = next_word.end() if next_word else connector.start()
    return end


def name_parts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The separate names inside one span: `Lithuania - Danius Gleveckas` is two, `Group of 20` one."""
    parts, position = [], start
    for match in NAME_BREAK.finditer(text, start, end):
        parts.append((position, match.start()))
        position = match.end()
    parts.append((position, end))
    return [(a, b) for a, b in parts if b > a]


def results_label(text: str, end: int, name: str, label: str) -> str:
    """ORG for a team in results copy (a place or one-word name followed by its score), else `label`."""
    if "." not in name and (label in PLACE_LABELS or " " not in name) and SCORE_AFTER.match(text, end):
        return "ORG"
    return label


def is_junk(text: str, start: int, end: int) -> bool:
    """True for spans that are not names: empty, no capital letter ("n’t"), or a wire or photo credit."""
    surface = text[start:end]
    if not any(ch.isupper() for ch in surface):
        return True
    if surface.isupper() and surface in WIRE_AGENCIES:
        return True
    return PHOTO_CREDIT_BEFORE.search(text, max(0, start - 20), start) is not None


def normalise_spans(text: str, spans: Iterable[Span]) -> list[Mention]:
    """The kept, trimmed, repaired, non-overlapping mentions of `spans`, in text order."""
    mentions: list[Mention] = []
    taken_until = 0
    for start, end, label in sorted(spans):
        if label not in KEPT_LABELS:
            continue
        for part in name_parts(text, start, repair_span(text, start, end)):
            part_start, part_end, titled = trim_span(text, *part)
            if part_start >= part_end or part_start < taken_until or is_junk(text, part_start, part_end):
                continue
            context = text[max(0, part_start - 40):part_start]
            name = collapse_whitespace(text[part_start:part_end])
            mentions.append(Mention(
                part_start, part_end, results_label(text, part_end, name, label), name=name,
                titled=titled or TITLE_BEFORE.search(context) is not None,
                after_article=ARTICLE_BEFORE.search(context) is not None))
            taken_until = part_end
    return mentions


def known_name_spans(text: str, taken: Sequence[Mention], lexicon: Lexicon) -> list[Mention]:
    """Mentions of the lexicon's names that the model missed (those not overlapping `taken`)."""
    found: list[Mention] = []
    if lexicon.surface_pattern is None:
        return found
    for match in lexicon.surface_pattern.finditer(text):
        start, end = match.span()
        if any(m.start < end and start < m.end for m in taken):
            continue
        canonical = lexicon.canonical_by_surface[match.group()]
        found.append(Mention(start, end, lexicon.labels[canonical], name=match.group()))
    return found
