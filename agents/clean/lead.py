"""The start of a wire story: headline, byline, dateline and the "(Bloomberg) —" source marker."""
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
# A feed's own dateline field is known to be a dateline, so a typo ("Narch 2", "Mach 4") or a stray dash may not
# hide the place: it is what comes before the first "Month 12", "(Wire)" or dash.
_FIELD_PLACE_END = re.compile(r",?\s*(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}\b|\(|[-–—])")
_WIRE_NAME = re.compile(r"\((?P<source>[A-Z][A-Za-z.&' ]{1,30})\)")
_BYLINE = re.compile(r"By (?P<name>[A-Z][\w'’.-]*(?:,? (?:and )?[A-Z][\w'’.-]*){0,7})")
_DASH_NEAR_START = re.compile(r"[-–—]")

# Title case for all-caps headlines: words in this list stay lower case unless first or last ...
_SMALL_WORDS = frozenset(
    "a an and as at but by en for from in into nor of off on onto or per the to via vs with".split())
# ... and these are acronyms a wire headline uses often enough to list; vowel-less words ("LDC", "GNP"), words
# with "&" or inner dots ("S&P", "U.S."), Roman numerals and tickers in angle brackets ("<BP>") stay as written too.
_ACRONYMS = frozenset(
    "US UK EC EEC UN USSR OPEC GATT IMF OECD NYSE NASDAQ AMEX CPI PPI GM GE IBM ITT TWA UAL RCA ABC SEC FDIC "
    "CIA FBI NATO EMS ECU ICO ICCO ITC ASEAN OAS AFL CIO UAW ESOP IPO LBO NV AG SA SPA PLC BV AB BHP CSR "
    "MITI BOJ ANZ NZ FAO ADB IDB EIB BIS USDA CCC ACP COMEX CBOT CME LME OTC NASD ERISA DOE EPA FAA FCC FTC ICC"
    .split())
# Vowel-less words that are wire abbreviations, not acronyms: "QTR NET" → "Qtr Net".
_ABBREVIATIONS = frozenset("MR MRS DR ST PCT MLN BLN DLR DLRS QTR QTRS SHR SHRS CTS STG YR YRS MTH MTHS JR SR LTD "
                           "BLD MLNS BLNS".split())
_WORD = re.compile(r"<[^<>\s]{1,12}>|[^\s/<-]+")
_ROMAN = re.compile(r"[IVX]{2,4}")
_VOWEL = re.compile(r"[AEIOUY]")
_LOWER = re.compile(r"[a-z]")
_CASED = re.compile(r"[A-Z]")
_TICKER = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class Lead:
    """What the opening of a paragraph said about the story, and the paragraph without it."""

    rest: str
    dateline: str | None = None     # as written, e.g. "SALVADOR, Feb 26 -"
    place: str | None = None        # the dateline's place as written, e.g. "SALVADOR"
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
    return Lead(rest=paragraph[dateline.end():], dateline=dateline.group().strip(),
                place=dateline.group("place").strip(" ,"), source=source.strip() if source else None)


def read_dateline(field: str) -> Lead | None:
    """A feed's separate dateline field ("SALVADOR, Feb 26 -") read as a lead; None when it holds no place.
    `rest` holds any story text the field carried after the dateline.

    The place is kept as written (wire caps included, "SALVADOR"), only trimmed: turning "DE KALB" or
    "McALLEN" into a readable name needs a gazetteer, and a reader can title-case it for display."""
    written = " ".join(field.split())
    if lead := read_lead(written + " "):
        # Some converters cut the field at the last dash, so it can end with the story's first words
        # ("RIO DE JANEIRO, Feb 26 - Brazil's "Cruzado" anti-"): those are the rest, the dateline is what precedes.
        rest = lead.rest.strip()
        dateline = written[:len(written) - len(rest)].strip() if rest else written
        return Lead(rest=rest, dateline=dateline, place=lead.place, source=lead.source)
    place = _FIELD_PLACE_END.split(written, maxsplit=1)[0].strip(" ,*_#")
    place = re.sub(r"^[^A-Za-z]+", "", place)
    wire = _WIRE_NAME.search(written)
    if not place and not wire:
        return None
    return Lead(rest="", dateline=written or None, place=place or None,
                source=wire.group("source").strip() if wire else None)


def read_byline(paragraph: str) -> str | None:
    """The names in a "By Jane Doe" paragraph, or None."""
    byline = _BYLINE.fullmatch(paragraph) if len(paragraph) <= 120 else None
    return byline.group("name") if byline else None


def is_all_caps(headline: str) -> bool:
    """Whether `headline` is shouted: two or more capital letters and no lower-case one (tickers aside)."""
    letters = _TICKER.sub("", headline) if "<" in headline else headline
    return _LOWER.search(letters) is None and len(_CASED.findall(letters)) >= 2


def readable_title(headline: str) -> str:
    """An all-caps wire headline in title case; any other headline unchanged.

    "U.S. BANKERS SEE NO RELIEF FOR LDC DEBT" → "U.S. Bankers See No Relief for LDC Debt": each word is
    capitalised (after a hyphen or slash too), short function words are lower case except first and last, and
    acronyms, tickers and numbers with letters ("1ST" → "1st") follow the rules above `_ACRONYMS`. The result
    has a lower-case letter unless every word was kept, so applying this again changes nothing."""
    if not is_all_caps(headline):
        return headline
    words = list(_WORD.finditer(headline))
    parts, end = [], 0
    for index, word in enumerate(words):
        parts.append(headline[end:word.start()])
        parts.append(_title_word(word.group(), edge=index in (0, len(words) - 1)))
        end = word.end()
    parts.append(headline[end:])
    return "".join(parts)


def _title_word(word: str, *, edge: bool) -> str:
    core = word.strip("\"'“”‘’(),:;!?.")
    if core[:1].isdigit():
        return word.lower()  # "1ST", "4TH", "1987/88"
    if core not in _ABBREVIATIONS and (word.startswith("<") or "&" in word or core in _ACRONYMS
                                       or _ROMAN.fullmatch(core) or "." in core or not _VOWEL.search(core)):
        return word
    lower = word.lower()
    if not edge and core.lower() in _SMALL_WORDS:
        return lower
    # Capitalise the first letter, keeping leading punctuation ("“WE" → "“We") and "'S" lower ("BANK'S").
    for i, ch in enumerate(lower):
        if ch.isalpha():
            return lower[:i] + ch.upper() + lower[i + 1:]
    return lower
