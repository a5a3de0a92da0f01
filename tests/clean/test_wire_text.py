"""Wire text: Reuters-21578 copy and wire-like generated input, cleaned into readable text and metadata."""
from __future__ import annotations

import gzip
import itertools
import re
import unicodedata
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agents.clean.core import clean_article
from agents.clean.language import detect_language
from agents.clean.lead import is_all_caps, read_dateline, readable_title
from streams.raw import raw_from_mapping
from streams.records import CleanArticle, RawArticle
from tests.conftest import clean_or_none, shared_data

WIRE = """BAHIA COCOA REVIEW
SALVADOR, Feb 26 - Showers continued throughout the week in
the Bahia cocoa zone, alleviating the drought since early
January and improving prospects for the coming temporao.
    The dry period means the temporao will be late this year.
    Arrivals for the week ended February 22 were 155,221 bags
of 60 kilos making a cumulative total for the season of 5.93
mln against 5.81 at the same stage last year.
 Reuter
&#3;"""


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def all_text(article: CleanArticle) -> str:
    meta = [article.byline, article.dateline, article.place, article.original_title, article.update_note,
            article.copyright, *article.contacts, *article.credits]
    return " ".join([article.title, *article.paragraphs, *(m for m in meta if m)])


@pytest.fixture(scope="module")
def wire() -> CleanArticle:
    [article] = clean_article(RawArticle(id="1", text=WIRE, published="1987-02-26T15:01:01"))
    return article


def test_wire_story_loses_its_trailer_and_control_characters(wire):
    assert not wire.body.endswith("Reuter") and not has_control_characters(all_text(wire))


def test_hard_wraps_are_joined_and_indents_start_paragraphs(wire):
    assert wire.paragraphs == [
        "Showers continued throughout the week in the Bahia cocoa zone, alleviating the drought since early "
        "January and improving prospects for the coming temporao.",
        "The dry period means the temporao will be late this year.",
        "Arrivals for the week ended February 22 were 155,221 bags of 60 kilos making a cumulative total for the "
        "season of 5.93 mln against 5.81 at the same stage last year.",
    ]


def test_all_caps_headline_is_made_readable_and_kept(wire):
    assert (wire.title, wire.original_title) == ("Bahia Cocoa Review", "BAHIA COCOA REVIEW")


def test_body_dateline_gives_dateline_and_place_but_not_the_date(wire):
    assert (wire.dateline, wire.place) == ("SALVADOR, Feb 26 -", "SALVADOR")
    assert wire.published == datetime(1987, 2, 26, 15, 1, 1, tzinfo=UTC)  # the raw date, not the dateline's


def test_dateline_without_raw_date_leaves_published_empty():
    [article] = clean_article(RawArticle(text="TOKYO, March 3 - The yen rose.", dateline="TOKYO, March 3 -"))
    assert (article.place, article.published) == ("TOKYO", None)


@pytest.mark.parametrize(("headline", "readable"), [
    ("U.S. BANKERS SEE NO RELIEF FOR LDC DEBT", "U.S. Bankers See No Relief for LDC Debt"),
    ("STANDARD OIL <SRD> TO FORM FINANCIAL UNIT", "Standard Oil <SRD> to Form Financial Unit"),
    ("FIRST UNION <FUNC> 1ST QTR NET", "First Union <FUNC> 1st Qtr Net"),
    ("G-7 MEETING IN PARIS, SAYS BANK'S CHIEF", "G-7 Meeting in Paris, Says Bank's Chief"),
    ("AT&T TO CUT 2,000 JOBS IN OPEC TALKS", "AT&T to Cut 2,000 Jobs in OPEC Talks"),
    ("MID-YEAR REVIEW SET FOR", "Mid-Year Review Set For"),
    ("Trump invites Kim to the DMZ", "Trump invites Kim to the DMZ"),
])
def test_readable_title(headline: str, readable: str):
    assert readable_title(headline) == readable
    assert readable_title(readable) == readable


def test_raw_title_in_caps_is_kept_as_original():
    [article] = clean_article(RawArticle(title="OPEC OIL OUTPUT <XON> RISES", text="Output rose."))
    assert (article.title, article.original_title) == ("OPEC Oil Output <XON> Rises", "OPEC OIL OUTPUT <XON> RISES")
    [plain] = clean_article(RawArticle(title="Output rises", text="Output rose."))
    assert plain.original_title is None


@pytest.mark.parametrize(("field", "dateline", "place", "source"), [
    ("SALVADOR, Feb 26 -", "SALVADOR, Feb 26 -", "SALVADOR", None),
    (" WEST HARTFORD, Conn., Feb 26 - ", "WEST HARTFORD, Conn., Feb 26 -", "WEST HARTFORD, Conn.", None),
    ("OSAKA, Japan (Reuters) -", "OSAKA, Japan (Reuters) -", "OSAKA, Japan", "Reuters"),
    ("NEW YORK, Narch 2 -", "NEW YORK, Narch 2 -", "NEW YORK", None),
    ("****SANTO DOMINGO, March 4 -", "****SANTO DOMINGO, March 4 -", "SANTO DOMINGO", None),
    ("GEORGETOWN, Grand Cayman, British West Indies, March 25 -",
     "GEORGETOWN, Grand Cayman, British West Indies, March 25 -", "GEORGETOWN, Grand Cayman, British West Indies",
     None),
])
def test_dateline_field_is_read(field: str, dateline: str, place: str, source: str | None):
    lead = read_dateline(field)
    assert lead is not None and (lead.dateline, lead.place, lead.source) == (dateline, place, source)


def test_dateline_field_holding_the_first_words_gives_them_back():
    raw = RawArticle(title="BRAZIL DEBT CRISIS", dateline='RIO DE JANEIRO, Feb 26 - Brazil\'s "Cruzado" anti-',
                     text="inflation\nplan, initially hailed at home and abroad as the saviour of the\n"
                          "economy, failed.")
    [article] = clean_article(raw)
    assert (article.dateline, article.place) == ("RIO DE JANEIRO, Feb 26 -", "RIO DE JANEIRO")
    assert article.paragraphs == ['Brazil\'s "Cruzado" anti-inflation plan, initially hailed at home and abroad as '
                                  'the saviour of the economy, failed.']


def test_source_comes_from_the_dateline_when_the_raw_has_none():
    [article] = clean_article(RawArticle(text="The yen rose.", dateline="TOKYO (Bloomberg) -"))
    assert (article.source, article.place) == ("Bloomberg", "TOKYO")
    [given] = clean_article(RawArticle(text="The yen rose.", dateline="TOKYO (Bloomberg) -", source="Nikkei"))
    assert given.source == "Nikkei"


ENGLISH = ("The central bank raised its main interest rate on Tuesday for the third time this year, saying "
           "inflation was still too high and the labour market remained tight.")
FRENCH = ("La banque centrale a relevé mardi son principal taux directeur pour la troisième fois cette année, "
          "estimant que l'inflation restait trop élevée et le marché du travail tendu.")
GERMAN = ("Die Zentralbank hat am Dienstag ihren Leitzins zum dritten Mal in diesem Jahr angehoben, weil die "
          "Inflation weiterhin zu hoch und der Arbeitsmarkt angespannt sei.")


@pytest.mark.parametrize(("text", "language"), [(ENGLISH, "en"), (FRENCH, "fr"), (GERMAN, "de"),
                                                 ("Too short to tell.", None)])
def test_language_is_detected_and_other_languages_are_kept(text: str, language: str | None):
    [article] = clean_article(RawArticle(text=text))
    assert article.language == language and article.paragraphs == [text]


def test_given_language_wins():
    assert clean_article(RawArticle(text=FRENCH, language="fr-CA"))[0].language == "fr-CA"
    assert detect_language("") is None


# ---- properties over wire-like input ----

WIRE_FRAGMENTS = st.sampled_from([
    "SALVADOR, Feb 26 - ", "WEST HARTFORD, Conn., Feb 26 - ", "OSAKA, Japan (Reuters) - ", "(Bloomberg) — ",
    "\n Reuter\n&#3;", " Reuter", "\nREUTER", "&#3;", "&#27;", "\x03", "\x1b", "\n    ", "\n", "\n\n",
    "U.S. BANKERS SEE NO RELIEF FOR LDC DEBT\n", "STANDARD OIL <SRD> TO FORM UNIT\n", "<BP>", "Shr 1.10 dlrs vs 90 cts",
    "the bank said it would raise\nits rate by 0.5 pct on Monday.", "anti-\ninflation", " mln dlrs", "1ST QTR NET\n",
    "By Jane Doe\n\n", "Showers continued throughout the week in\nthe Bahia cocoa zone.",
])
WORDS = st.sampled_from(["the", "bank", "said", "rate", "U.S.", "OPEC", "rose", "and", "pct", "of", "Inc", "<XON>"])
WIRE_TEXT = st.lists(st.one_of(WIRE_FRAGMENTS, WORDS.map(lambda w: w + " "), st.text(max_size=12)),
                     max_size=40).map("".join)
DATELINE_FIELD = st.one_of(st.none(), st.sampled_from(["SALVADOR, Feb 26 -", "NEW YORK, Narch 2 -", " -", "",
                                                       'RIO DE JANEIRO, Feb 26 - Brazil\'s "Cruzado" anti-']),
                           st.text(max_size=30))
TITLE = st.one_of(st.none(), st.sampled_from(["U.S. BANKERS SEE NO RELIEF FOR LDC DEBT", "BAHIA COCOA REVIEW",
                                              "Kim meets Trump", "<BP> 1ST QTR"]), st.text(max_size=30))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=WIRE_TEXT, dateline=DATELINE_FIELD, title=TITLE)
def test_wire_cleaning_never_crashes_and_leaves_no_control_characters(text, dateline, title):
    for article in clean_or_none(RawArticle(text=text, dateline=dateline, title=title)) or []:
        assert not has_control_characters(all_text(article))
        assert all(p and p == p.strip() and "\n" not in p for p in article.paragraphs)
        assert not re.search(r"(?:^|[.!?”\")\d])(?:\s*(?i:reuter))+$", article.body)  # a sign-off after a sentence
        assert not is_all_caps(article.title) or article.original_title is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=WIRE_TEXT, dateline=DATELINE_FIELD)
@example(text="â¡STANDARD OIL <SRD> TO FORM UNIT\nSALVADOR, Feb 26 - ", dateline=None)  # case change made mojibake
def test_wire_cleaning_is_idempotent(text, dateline):
    for article in clean_or_none(RawArticle(text=text, dateline=dateline)) or []:
        [again] = clean_article(RawArticle(text=article.full_text))
        assert (again.title, again.paragraphs) == (article.title, article.paragraphs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=WIRE_TEXT, dateline=DATELINE_FIELD, title=TITLE)
def test_wire_cleaning_with_a_given_title_is_idempotent(text, dateline, title):
    # A given title goes back as the title: one ending like a sentence ("Rates rise.") cannot be told from
    # the first paragraph once it is only text.
    for article in clean_or_none(RawArticle(text=text, dateline=dateline, title=title)) or []:
        [again] = clean_article(RawArticle(title=article.title, text=article.body))
        assert (again.title, again.paragraphs) == (article.title, article.paragraphs)


# ---- the real Reuters-21578 wire ----

@pytest.fixture(scope="module")
def reuters() -> list[tuple[dict, list[CleanArticle]]]:
    """The first 2,000 Reuters-21578 records with a body, read as ingest reads them, and their clean articles."""
    path = shared_data("reuters21578/reuters21578.jsonl.gz")
    with gzip.open(path, "rb") as lines:
        records = list(itertools.islice((r for r in map(orjson.loads, lines) if r.get("body")), 2000))
    return [(r, clean_article(raw_from_mapping(r, max_bytes=1_000_000))) for r in records]


def test_reuters_bodies_lose_trailer_and_control_characters(reuters):
    for record, articles in reuters:
        for article in articles:
            assert not re.search(r"(?i)\breuter\s*$", article.body), record["newid"]
            assert not has_control_characters(all_text(article)), record["newid"]


def test_reuters_datelines_give_a_place(reuters):
    dated = [articles[0] for record, articles in reuters if (record.get("dateline") or "").strip()]
    placed = [a for a in dated if a.place]
    assert len(placed) >= 0.97 * len(dated), f"{len(placed)} of {len(dated)} datelines gave a place"


def test_reuters_hard_wraps_are_joined(reuters):
    # A wrap left as a break shows as a paragraph ending mid-sentence followed by one starting in lower case;
    # results tables ("Shr 1.10 dlrs vs 90 cts" / "net 4.1 mln vs …") do that on purpose, so a few may.
    broken = [(record["newid"], first[-30:], second[:30])
              for record, articles in reuters for article in articles
              for first, second in itertools.pairwise(article.paragraphs)
              if second[:1].islower() and not re.search(r"[.!?:;\"')]$", first)
              and not re.search(r"\d$", first)]
    assert not any("\n" in p for _, articles in reuters for a in articles for p in a.paragraphs)
    assert len(broken) <= 2, broken[:5]


def test_reuters_caps_headlines_get_readable_titles(reuters):
    shouted = [(record, articles[0]) for record, articles in reuters if is_all_caps(record.get("title") or "")]
    assert len(shouted) > 1000
    for record, article in shouted:
        assert article.original_title == " ".join(record["title"].split()), record["newid"]
        assert not is_all_caps(article.title) or article.title == article.original_title, record["newid"]
    still_caps = [a.title for _, a in shouted if is_all_caps(a.title)]
    assert len(still_caps) <= 0.01 * len(shouted), still_caps[:10]


def test_reuters_is_english_and_tables_are_not_guessed(reuters):
    articles = [a for _, versions in reuters for a in versions]
    # Prose: 40 words or more in paragraphs of 15 words on average (results tables are short lines of figures).
    prose = [a for a in articles if len(a.body.split()) >= 40 and len(a.body.split()) >= 15 * len(a.paragraphs)]
    english = sum(a.language == "en" for a in prose)
    assert english >= 0.97 * len(prose), f"{english} of {len(prose)} detected as English"
    other = [(a.id, a.language) for a in articles if a.language not in ("en", None)]
    assert len(other) <= 0.01 * len(articles), other[:10]


@pytest.mark.parametrize(("headline", "mark", "title"), [
    ("CORRECTED - BANKAMERICA NEGOTIATING SALE OF UNITS", "CORRECTED", "Bankamerica Negotiating Sale of Units"),
    ("(CORRECTED)-IVORY COAST CONFIRMS PRESENCE AT TALKS", "CORRECTED", "Ivory Coast Confirms Presence at Talks"),
    ("UPDATE 2-Oil rises as OPEC holds output", "UPDATE 2", "Oil rises as OPEC holds output"),
    ("CORRECTION - CONTINENTAL ILL <CIL>", None, "Correction - Continental Ill <CIL>"),  # a notice, not a re-issue
    ("Corrections officer jailed", None, "Corrections officer jailed"),
])
def test_a_headlines_revision_mark_becomes_the_update_note(headline: str, mark: str | None, title: str) -> None:
    [article] = clean_article(RawArticle(title=headline, text="LONDON, March 2 - The text of the wire goes here."))
    assert (article.update_note, article.title) == (mark, title)
    if mark:
        assert article.original_title == headline
