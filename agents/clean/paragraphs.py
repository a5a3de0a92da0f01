"""Plain text → clean paragraphs: Unicode repair, stray tags, paragraph breaks and sentences glued without a space."""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from html import unescape

import ftfy

# Curly quotes are part of the text as the outlet wrote it; only mojibake and broken characters are repaired.
FTFY_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, unescape_html=False, explain=False)

# Control and invisible format characters; \n survives here because it still separates paragraphs.
_INVISIBLE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufffe]")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SPACES = re.compile(r"[^\S\n]+")
# Markdown-style escapes left by converters, e.g. "\–With assistance from".
_ESCAPED_PUNCT = re.compile(r"\\(?=[–—\-*_#.()\[\]])")
# Only lowercase HTML tag names count as stray markup, so ticker symbols such as "<BP>" in wire copy stay.
_STRAY_TAG = re.compile(
    r"</?(?:p|div|span|a|img|br|hr|figure|figcaption|section|article|header|footer|nav|aside|strong|em|b|i|u|"
    r"ul|ol|li|h[1-6]|blockquote|iframe|script|style|noscript|meta|link|source|picture|table|tr|td|th|tbody|"
    r"thead|button|svg|path|time|small|sup|sub|main|label|input|form)(?:\s[^<>]*)?/?>"
)

# A sentence end glued to the next sentence ("Zone.The", "nowhere.“I"); "U.S.", "a.m.", "3.5" and URLs don't match.
# After an acronym the next sentence must start with a capitalised word, so "(CANN.T)" and "CKGH.HK" stay whole.
_GLUED_SENTENCE = re.compile(r"(?<=[a-z0-9%)][.!?])(?=[“‘]?[A-Z])|(?<=[A-Z]{2}[.!?])(?=[“‘]?[A-Z][a-z])")
# A quotation closed at a sentence end and glued to what follows: "easy.”Trump".
_GLUED_AFTER_QUOTE = re.compile(r"(?<=[.!?…]”)(?=[“‘]?[A-Z])")
# A closing quote glued to a word mid-sentence: only a space is missing.
_QUOTE_THEN_WORD = re.compile(r"(?<=[,;:]”)(?=\w)")
# Section headings glued to the next sentence: "‘Impasse’“We are", "Far ApartThe announcement".
_QUOTED_HEADING = re.compile(r"‘[^‘’\n]{1,60}’(?=[“A-Z])")
_PLAIN_HEADING = re.compile(
    r"(?:[A-Z][a-z’'-]*\s){0,4}[A-Z][a-z]{2,}(?=(?:The|But|And|In|On|At|As|If|It|He|She|They|We|This|That|When|"
    r"While|After|Before|Despite|Although|For|With|A)\s)"
)
# Anchored at a token start so a long token without "@" is scanned once, not once per character.
# Tickers such as "<CKGH.HK>" are protected the same way.
_URL_OR_EMAIL = re.compile(r"(?<![\w.+-])(?:(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
                           r"|<[A-Z0-9][A-Za-z0-9.&/-]{0,15}>")
_SENTENCE_END = re.compile(r"[.!?…:][”’\")\]]*$")
_WRAPPED_WIDTH = 90
_SHOUTED_LINE = re.compile(r"[^a-z\s]*[A-Z][^a-z\s]*(?:\s+[^a-z\s]+)*\s+[^a-z\s]*[A-Z][^a-z\s]*")


def repair_text(text: str) -> str:
    """Text with entities decoded, mojibake and line breaks repaired, control characters removed, spaces single."""
    text = _remove_invisible(_LINE_BREAKS.sub("\n", _unescape_fully(text)))
    if not text.isascii():  # ASCII cannot be mojibake; skipping ftfy halves the time on wire copy
        text = ftfy.fix_text(text, FTFY_CONFIG)
        # Removing characters can leave combinable sequences, so composition comes last.
        text = unicodedata.normalize("NFC", _remove_invisible(_LINE_BREAKS.sub("\n", text)))
    return _SPACES.sub(" ", _ESCAPED_PUNCT.sub("", text))


def repair_paragraph(paragraph: str) -> str:
    """One finished paragraph repaired again: joining lines or splitting glued text gives ftfy new context
    ("Â" + " " reads as a broken no-break space), and the output must already be what a second cleaning gives."""
    if paragraph.isascii():
        return paragraph
    fixed = unicodedata.normalize("NFC", _remove_invisible(ftfy.fix_text(paragraph, FTFY_CONFIG)))
    return normalise_space(fixed)


def strip_stray_tags(text: str) -> str:
    """`text` without HTML tags that leaked into it (the text after a tag stays)."""
    return _STRAY_TAG.sub(" ", text) if "<" in text else text


def break_before(text: str, markers: re.Pattern[str]) -> str:
    """`text` with a paragraph break before each match of `markers` (boilerplate glued to the previous sentence)."""
    return markers.sub(lambda m: "\n\n" + m.group(), text)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of repaired text: blocks between blank lines; indented lines start one; hard-wrapped lines join,
    except around an all-caps line (a wire headline above its dateline)."""
    lines = text.split("\n")
    hard_wrapped = len(lines) >= 3 and max(len(line) for line in lines) <= _WRAPPED_WIDTH
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        starts_new = (
            not line.strip()
            or line[:1].isspace()
            or not hard_wrapped
            or (current and _SENTENCE_END.search(current[-1]) is not None and len(current[-1]) < _WRAPPED_WIDTH // 2)
            or (current and (_is_shouted(line) or _is_shouted(current[-1])))
        )
        if starts_new and current:
            paragraphs.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return [p for p in (normalise_space(p) for p in paragraphs) if p]


def unglue(paragraph: str) -> list[str]:
    """A paragraph split where sentences or headings were glued together without a space (lost paragraph breaks)."""
    paragraph = _QUOTE_THEN_WORD.sub(" ", paragraph)
    cuts = sorted({m.start() for m in _GLUED_SENTENCE.finditer(paragraph)}
                  | {m.start() for m in _GLUED_AFTER_QUOTE.finditer(paragraph)})
    if cuts:
        protected = [(m.start(), m.end()) for m in _URL_OR_EMAIL.finditer(paragraph)]  # in order, disjoint
        starts = [start for start, _ in protected]
        cuts = [c for c in cuts if not (i := bisect_left(starts, c)) or c >= protected[i - 1][1]]
    pieces = [paragraph[a:b] for a, b in zip([0, *cuts], [*cuts, len(paragraph)], strict=True)]
    return [part for piece in pieces for part in _split_heading(piece.strip()) if part]


def unglue_inline(text: str) -> str:
    """One line (a title) with glued sentences separated by a space instead of a paragraph break."""
    return normalise_space(" ".join(unglue(text)))


def normalise_space(text: str) -> str:
    """`text` on one line with single spaces."""
    return " ".join(text.split())


def _is_shouted(line: str) -> bool:
    """An all-caps line of two or more words: a wire headline or table heading, never the middle of a sentence."""
    return _SHOUTED_LINE.fullmatch(line.strip()) is not None


def _split_heading(piece: str) -> list[str]:
    headings = []
    while heading := _QUOTED_HEADING.match(piece) or _PLAIN_HEADING.match(piece):
        headings.append(heading.group().strip())
        piece = piece[heading.end():].strip()
    return [*headings, piece]


def _remove_invisible(text: str) -> str:
    return _INVISIBLE.sub(lambda m: " " if m.group() == "\t" else "", text)


def _unescape_fully(text: str) -> str:
    # Feeds double-escape ("&amp;#3;"), and removing a control character can join "&#" to a number ("&#\x1b0"):
    # a few rounds of decoding and removing reach the fixed point that makes cleaning idempotent.
    for _ in range(4):
        if "&" not in text:
            break
        unescaped = _remove_invisible(unescape(text))
        if unescaped == text:
            break
        text = unescaped
    return text
