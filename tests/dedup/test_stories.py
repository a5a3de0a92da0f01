"""The story matcher (agents.dedup.stories) on synthetic text and on ECB+, and the clustering scores."""
from __future__ import annotations

import itertools
import json
import weakref
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from agents.dedup.stories import StoryMatcher, story_features
from benchmarks.ecb_stories import bcubed_scores, clean_article, pairwise_scores, run_matcher, tfidf_baseline
from streams.records import CleanArticle
from tests.conftest import shared_data
from tests.dedup.dedup_articles import AssignmentOnlyTable

T0 = datetime(2019, 6, 29, 8, 0, tzinfo=UTC)
STREAM_POSITIONS: weakref.WeakKeyDictionary[StoryMatcher, Iterator[int]] = weakref.WeakKeyDictionary()

QUAKE = [
    "A magnitude 6.1 earthquake struck Qeshm Island in Iran on Sunday, killing 10 people and injuring dozens, "
    "the Iranian Red Crescent said.",
    "Governor Ali Dargahan said rescue teams from Bandar Abbas reached the villages of Tourian and Zainabi. "
    "Homes built of mud brick collapsed across the island.",
]
SAME_QUAKE = [
    "Rescue teams from Bandar Abbas searched the rubble on Qeshm Island after Sunday's magnitude 6.1 earthquake, "
    "which killed 10 people in Iran.",
    "Dargahan, the island governor, said the villages of Tourian and Zainabi were worst hit, with mud brick homes "
    "destroyed.",
]
OTHER_QUAKE = [  # the same kind of event, elsewhere: a hard negative
    "A magnitude 5.8 earthquake struck the Sichuan province of China on Tuesday, killing 4 people and injuring 80, "
    "state media said.",
    "Officials in Lushan county said rescue teams from Chengdu reached the town of Baoxing, where homes collapsed "
    "and roads were cut by landslides.",
]
BACKGROUND = [  # earlier news, so that document frequencies know which words are common
    ["Floods killed 12 people in Kerala after heavy rain, and rescue teams reached villages cut off by the water.",
     "Officials said thousands of homes were damaged."],
    ["A fire in a Lagos market injured dozens of people on Monday; firefighters reached the site after two hours.",
     "Traders said their stalls collapsed in the blaze."],
    ["A bus crash in Peru killed 20 people, officials said, and injured dozens more on a mountain road.",
     "Rescue teams worked through the night."],
    ["The central bank of Freedonia raised its main interest rate by half a percentage point on Tuesday.",
     "Governor Alma Rivera said the bank was ready to act again."],
]


def article(article_id: str, paragraphs: list[str], published: datetime | None = T0) -> CleanArticle:
    return CleanArticle(id=article_id, title="", paragraphs=paragraphs, source=None, published=published)


def new_matcher(**tables: MutableMapping[str, Any]) -> StoryMatcher:
    return StoryMatcher(tables.get("docs", {}), tables.get("stories", {}))


def feed(matcher: StoryMatcher, *articles: CleanArticle) -> list[str]:
    """Story ids for `articles` in order: the matched story, else the article's own id."""
    story_ids = []
    positions = STREAM_POSITIONS.setdefault(matcher, itertools.count())  # each matcher's stream, as the decider's seq
    for item in articles:
        features = story_features(item)
        matched = matcher.match(features, item.published)
        story_id = matched[0] if matched else item.id
        matcher.add(story_id, item.id, features, item.published, item.published or T0, order=next(positions))
        story_ids.append(story_id)
    return story_ids


def with_background(matcher: StoryMatcher, published: datetime | None = T0) -> None:
    feed(matcher, *(article(f"bg{i}", p, published) for i, p in enumerate(BACKGROUND)))


# --- matching --------------------------------------------------------------------------------------------------

def test_two_reports_of_one_event_share_a_story() -> None:
    matcher = new_matcher()
    with_background(matcher)
    assert feed(matcher, article("q1", QUAKE), article("q2", SAME_QUAKE)) == ["q1", "q1"]


def test_the_same_kind_of_event_elsewhere_is_a_new_story() -> None:
    matcher = new_matcher()
    with_background(matcher)
    assert feed(matcher, article("q1", QUAKE), article("e1", OTHER_QUAKE)) == ["q1", "e1"]


def test_a_story_older_than_the_window_does_not_match() -> None:
    matcher = new_matcher()
    with_background(matcher)
    feed(matcher, article("q1", QUAKE))
    late = story_features(article("q2", SAME_QUAKE))
    assert matcher.match(late, T0 + timedelta(hours=73)) is None
    assert matcher.match(late, T0 + timedelta(hours=71)) is not None
    assert matcher.match(late, None) is not None  # unknown time: no window


def test_features_are_names_first_and_pure() -> None:
    features = story_features(article("q1", QUAKE))
    names = [t for t, _, is_name in features.terms if is_name]
    assert {"qeshm", "iran", "dargahan", "6.1", "10"} <= set(names)
    assert "magnitude" not in names and "said" not in {t: c for t, c, _ in features.terms}
    assert features.terms[:len(names)] == tuple(t for t in features.terms if t[2])
    assert story_features(article("q1", QUAKE)) == features


def test_an_article_without_terms_matches_nothing_and_changes_nothing() -> None:
    matcher = new_matcher()
    empty = story_features(article("x", ["the and of", ""]))
    assert matcher.match(empty, T0) is None
    matcher.add("x", "x", empty, T0, T0, order=0)
    assert (matcher.docs, matcher.stories) == ({}, {})


def test_a_templated_wire_about_another_company_starts_its_own_story() -> None:
    body = ["Qtly div 17 cts vs 17 cts prior", "Pay April 15", "Record March 31"]
    wires = [CleanArticle(id=f"w{n}", title=title, paragraphs=body, source="Reuters", published=T0)
             for n, title in enumerate(["Federal Paper Board Co <FBT> Sets Payout", "Nucor Corp <NUE> Sets Payout",
                                        "Federal Paper Board Co <FBT> Sets Quarterly Payout"])]
    assert feed(new_matcher(), *wires) == ["w0", "w1", "w0"]  # the headline's rarest words tell them apart


def test_headline_names_the_body_confirms_anchor_the_match() -> None:
    first = CleanArticle(id="a1", title="Trump Invites Kim to Meet at the DMZ", published=T0, paragraphs=[
        "U.S. President Donald Trump invited North Korean leader Kim Jong Un to meet him at the Demilitarized Zone.",
        "Trump said on Twitter that he would be in South Korea on Saturday and could shake hands with Kim."])
    second = CleanArticle(id="b1", title="Donald Trump tweets invitation to Kim Jong Un", published=T0, paragraphs=[
        "President Donald Trump has used Twitter to invite Kim Jong Un to a meeting at the border with South Korea.",
        "Kim has not answered the invitation, which Trump sent before his visit to Seoul on Saturday."])
    assert story_features(second).headline_names == ("donald", "trump", "kim", "jong")
    assert feed(new_matcher(), first, second) == ["a1", "a1"]  # the unseen words "tweets" and "invitation" don't block


# --- state -----------------------------------------------------------------------------------------------------

def test_state_is_written_only_by_assignment_and_is_json() -> None:
    tables = {name: AssignmentOnlyTable() for name in ("docs", "stories")}
    plain: dict[str, dict[str, Any]] = {"docs": {}, "stories": {}}
    stream = [*(article(f"bg{i}", p) for i, p in enumerate(BACKGROUND)), article("q1", QUAKE),
              article("e1", OTHER_QUAKE), article("q2", SAME_QUAKE, T0 + timedelta(hours=2))]
    assert feed(new_matcher(**tables), *stream) == feed(new_matcher(**plain), *stream)
    for name, table in tables.items():
        assert {k: table[k] for k in table} == json.loads(json.dumps(plain[name]))
    assert len(orjson.dumps(plain["stories"]["q1"])) < 2_000


def test_expire_forgets_old_stories_and_their_terms() -> None:
    matcher = new_matcher()
    feed(matcher, article("q1", QUAKE, T0), article("e1", OTHER_QUAKE, T0 + timedelta(hours=30)))
    assert matcher.expire(T0 + timedelta(hours=10)) == 1
    assert set(matcher.stories) == {"e1"} and set(matcher.docs) == {"e1"}
    derived = matcher.derived_state()
    assert "qeshm" not in derived.frequencies and derived.frequencies["sichuan"] == 1 and derived.docs == 1
    assert all(list(posting) == ["e1"] for posting in derived.postings.values())
    assert matcher.expire(T0 + timedelta(hours=10)) == 0  # nothing left before that hour
    assert matcher.expire(T0 + timedelta(days=3)) == 1
    derived = matcher.derived_state()
    assert (matcher.stories, matcher.docs, derived.postings, +derived.frequencies) == ({}, {}, {}, {})


def test_a_story_updated_later_survives_expiry_of_its_first_hour() -> None:
    matcher = new_matcher()
    with_background(matcher, T0)
    feed(matcher, article("q1", QUAKE, T0), article("q2", SAME_QUAKE, T0 + timedelta(hours=20)))
    matcher.expire(T0 + timedelta(hours=10))
    assert set(matcher.stories) == {"q1"} and matcher.stories["q1"].articles == 2


def test_same_stream_gives_the_same_state() -> None:
    stream = [*(article(f"bg{i}", p) for i, p in enumerate(BACKGROUND)), article("q1", QUAKE),
              article("q2", SAME_QUAKE), article("e1", OTHER_QUAKE)]
    first, second = new_matcher(), new_matcher()
    assert feed(first, *stream) == feed(second, *stream)
    assert (first.docs, first.stories) == (second.docs, second.stories)


def test_state_rebuilt_from_the_tables_equals_the_live_state() -> None:
    """What a worker taking over the decider rebuilds must decide exactly as the worker that held it."""
    docs, stories = AssignmentOnlyTable(), AssignmentOnlyTable()
    live = new_matcher(docs=docs, stories=stories)
    feed(live, *(article(f"bg{i}", p, T0) for i, p in enumerate(BACKGROUND)), article("q1", QUAKE, T0),
         article("e1", OTHER_QUAKE, T0 + timedelta(hours=30)), article("q2", SAME_QUAKE, T0 + timedelta(hours=31)))
    live.expire(T0 + timedelta(hours=10))
    rebuilt = new_matcher(docs=docs, stories=stories)
    for field_name in ("frequencies", "docs", "doc_hours", "story_hours"):
        assert getattr(rebuilt.derived_state(), field_name) == getattr(live.derived_state(), field_name), field_name
    assert ({t: list(p) for t, p in rebuilt.derived_state().postings.items()}
            == {t: list(p) for t, p in live.derived_state().postings.items()})  # the same order: newest story last
    later = article("q3", SAME_QUAKE, T0 + timedelta(hours=32))
    assert rebuilt.match(story_features(later), later.published) == live.match(story_features(later), later.published)


# --- scores ----------------------------------------------------------------------------------------------------

def test_pairwise_scores_by_hand() -> None:
    # predicted pairs {01, 23}; gold pairs {01, 02, 12}; both {01}
    precision, recall, f1 = pairwise_scores(["a", "a", "b", "b"], ["x", "x", "x", "y"])
    assert (precision, recall) == (0.5, pytest.approx(1 / 3))
    assert f1 == pytest.approx(0.4)
    assert pairwise_scores(["a", "b"], ["x", "y"]) == (1.0, 1.0, 1.0)  # no pairs anywhere: nothing wrong


def test_bcubed_scores_by_hand() -> None:
    # per item precision 1, 1, 1/2, 1/2 and recall 2/3, 2/3, 1/3, 1
    precision, recall, f1 = bcubed_scores(["a", "a", "b", "b"], ["x", "x", "x", "y"])
    assert precision == pytest.approx(0.75)
    assert recall == pytest.approx(2 / 3)
    assert f1 == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3))


# --- ECB+ ------------------------------------------------------------------------------------------------------

def ecb_docs() -> list[dict[str, Any]]:
    path = shared_data("ecbplus/ecbplus_docs.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_ecb_file_order_is_at_least_as_good_as_the_tfidf_baseline() -> None:
    """The matcher against the TF-IDF baseline on the same documents in the same order (0.808 and 0.807 pairwise
    F1 in docs/performance.md), and above a floor a little under that figure."""
    docs = ecb_docs()
    gold = [d["cluster_id"] for d in docs]
    matcher_f1 = pairwise_scores(run_matcher(docs, new_matcher()), gold)[2]
    # 0.30 is the baseline's best threshold on ECB+ (benchmarks.ecb_stories.best_baseline tries the grid, 40 s)
    baseline_f1 = pairwise_scores(tfidf_baseline(0.30)(docs), gold)[2]
    assert matcher_f1 >= baseline_f1, (matcher_f1, baseline_f1)
    assert matcher_f1 >= 0.80
    assert clean_article(docs[0]).published is None


@pytest.mark.xfail(strict=True, reason="issue 4's 0.90 is not reached (0.819 in file order): twin events that share "
                                       "their actors merge, and even batch clustering tuned on the labels peaks at "
                                       "0.88 on these texts (see benchmarks/ecb_stories.py)")
def test_ecb_file_order_reaches_the_issue_target() -> None:
    docs = ecb_docs()
    labels = run_matcher(docs, new_matcher())
    assert pairwise_scores(labels, [d["cluster_id"] for d in docs])[2] >= 0.90
