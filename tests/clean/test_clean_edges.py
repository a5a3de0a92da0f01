"""The clean core at its edges: no body, a headline with one paragraph, what opens a story, a dateline field carrying
its first words, a page's own title and heading, and revision notes (each found untested by mutation testing)."""
from __future__ import annotations

import pytest

from agents.clean.core import clean_article
from streams.deadletter import BadInput
from streams.records import RawArticle

FIRST = "Acme said on Tuesday it would open a new plant in the north of the country next year."
SECOND = "The plant will employ about 400 people once it runs at full capacity, the company said."


def test_an_article_without_a_body_is_refused_naming_its_id_and_origin() -> None:
    with pytest.raises(BadInput) as refused:
        clean_article(RawArticle(id="x1", title="Only a title", origin="feed.xml"))
    assert refused.value.reason == "empty_body"
    assert str(refused.value) == "no article text left after removing boilerplate (id x1, from feed.xml)"
    with pytest.raises(BadInput, match=r"\(no id\)$"):
        clean_article(RawArticle(title="Only a title"))


def test_a_headline_above_a_single_paragraph_is_the_title() -> None:
    [article] = clean_article(RawArticle(text=f"Acme opens a plant in the north\n\n{FIRST}"))
    assert (article.title, article.paragraphs) == ("Acme opens a plant in the north", [FIRST])


def test_the_headline_bylines_and_dateline_that_open_a_story_are_taken_apart() -> None:
    text = f"Acme opens a plant\n\nBy Jane Doe\n\nBy John Roe\n\nLONDON (Reuters) - {FIRST}\n\n{SECOND}"
    [article] = clean_article(RawArticle(text=text))
    assert (article.title, article.paragraphs) == ("Acme opens a plant", [FIRST, SECOND])
    assert (article.byline, article.place, article.source) == ("Jane Doe, John Roe", "LONDON", "Reuters")


def test_the_first_words_cut_off_into_the_dateline_field_start_the_body() -> None:
    [article] = clean_article(RawArticle(dateline="LONDON, Feb 26 - Acme said on",
                                         text="Tuesday it would open a new plant next year, employing 400 people."))
    assert article.paragraphs == ["Acme said on Tuesday it would open a new plant next year, employing 400 people."]
    assert (article.dateline, article.place) == ("LONDON, Feb 26 -", "LONDON")


def test_a_page_gives_its_title_and_its_heading_is_not_repeated_in_the_body() -> None:
    page = ("<html><head><title>Acme opens a plant</title></head><body><article><h1>Acme opens a plant</h1>"
            f"<p>{FIRST}</p><p>{SECOND}</p></article></body></html>")
    [article] = clean_article(RawArticle(html=page))
    assert (article.title, article.paragraphs) == ("Acme opens a plant", [FIRST, SECOND])
    [as_text] = clean_article(RawArticle(text=page))  # a page sent as text is read as a page
    assert as_text.paragraphs == [FIRST, SECOND]
    without_heading = page.replace("<h1>Acme opens a plant</h1>", "")
    assert clean_article(RawArticle(html=without_heading))[0].title == "Acme opens a plant"  # from <title>
    assert clean_article(RawArticle(html=without_heading, title="Given"))[0].paragraphs == [FIRST, SECOND]


def test_a_headline_is_at_most_150_characters() -> None:
    longest = "Acme opens " + "a" * 139
    assert clean_article(RawArticle(text=f"{longest}\n\n{FIRST}"))[0].title == longest
    assert clean_article(RawArticle(text=f"{longest}s\n\n{FIRST}"))[0].paragraphs == [f"{longest}s", FIRST]


def test_a_revision_mark_and_an_updates_note_make_one_update_note() -> None:
    text = f"UPDATE 1-Acme opens a plant\n\nLONDON (Reuters) - {FIRST}\n\n(Updates with share price in paragraph 3)"
    [article] = clean_article(RawArticle(text=text))
    assert (article.title, article.paragraphs) == ("Acme opens a plant", [FIRST])
    assert article.update_note == "UPDATE 1 Updates with share price in paragraph 3"
