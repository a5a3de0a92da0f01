"""Dedup verdicts in the cases mutation testing found unchecked: which candidate a copy is matched to, what is
recorded, other outlets' marked revisions, the thresholds themselves, bodies without words, exact copies re-sent."""
from __future__ import annotations

from datetime import timedelta

import numpy as np

from agents.dedup import signatures
from agents.dedup.decide import Thresholds
from agents.dedup.in_memory import DedupIndex
from streams.records import CleanArticle, DedupVerdict
from tests.dedup.dedup_articles import REPORT, REVISION_SENTENCE, T0, UNRELATED, article, index_with, new_index

REVISED = [*REPORT, REVISION_SENTENCE]
FIGURE_CHANGED = [REPORT[0].replace("half a percentage point", "three quarters of a percentage point"), *REPORT[1:]]


def judged(thresholds: Thresholds, *stream: CleanArticle) -> DedupVerdict:
    """The verdict on the last article of `stream` under `thresholds`."""
    index = DedupIndex(thresholds=thresholds)
    return [index.judge(item) for item in stream][-1]


def test_a_body_without_words_is_new_and_never_a_duplicate() -> None:
    index = new_index()
    assert [index.judge(article(name, ["— • —"])) for name in ("p1", "p2")] == [
        DedupVerdict(kind="new", story_id="p1"), DedupVerdict(kind="new", story_id="p2")]


def test_another_outlets_copy_that_adds_a_sentence_joins_the_story_carrying_it() -> None:
    copy = article("b1", REVISED, source="Wire B")
    for incoming in (copy, copy.derive(update_note="UPDATE 1")):  # marked or not: only its own wire's are updates
        verdict = index_with(article("a1", REPORT)).judge(incoming)
        assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("same_story", "a1", "a1")
        assert verdict.added_sentences == [REVISION_SENTENCE]


def test_a_copy_is_matched_to_the_most_similar_article_and_its_story() -> None:
    index = index_with(article("a1", REPORT), article("a2", REVISED))  # a2: the update of a1
    edited = [*REPORT, REVISION_SENTENCE.replace("Tuesday evening.", "Tuesday night.")]
    verdict = index.judge(article("c1", edited, source="Wire C"))
    assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("duplicate", "a2", "a1")
    exact = index.judge(article("c2", REVISED, source="Wire C"))
    assert (exact.kind, exact.matched_id, exact.story_id, exact.similarity) == ("duplicate", "a2", "a1", 1.0)
    # Duplicates are not recorded: the story is still its two articles.
    assert index.tables["stories"]["a1"]["versions"] == ["a1", "a2"]
    assert "c1" not in index.tables["articles"] and "c2" not in index.tables["articles"]


def test_a_marked_revision_re_issues_the_same_wire_article_whose_headline_it_shares() -> None:
    earlier = [article("a1", REPORT, title="Freedonia raises rates"),
               article("a2", REVISED, title="Freedonia minister welcomes rate rise")]
    body = [*FIGURE_CHANGED, REVISION_SENTENCE]  # closer to a2's text than to a1's
    for title, matched in [("Freedonia raises rates", "a1"), ("Freedonia minister welcomes rate rise", "a2")]:
        verdict = index_with(*earlier).judge(article("c1", body, title=title).derive(update_note="CORRECTED"))
        assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("update", matched, "a1"), title
        assert 0.7 < verdict.similarity < 0.9 and verdict.similarity == round(verdict.similarity, 4)  # its Jaccard


def test_a_corrected_headline_is_an_update_of_the_first_and_is_recorded() -> None:
    index = index_with(article("a1", REPORT, title="Freedonia raises rates by a quarter point"))
    corrected = article("a2", REPORT, title="Freedonia raises rates by half a point").derive(update_note="CORRECTED")
    verdict = index.judge(corrected)
    assert verdict == DedupVerdict(kind="update", story_id="a1", similarity=1.0, matched_id="a1")
    assert index.tables["stories"]["a1"]["versions"] == ["a1", "a2"]


def test_a_similarity_at_a_threshold_reaches_it() -> None:
    first, same_wire = article("a1", REPORT), article("a2", FIGURE_CHANGED)
    similarity = judged(Thresholds(), first, same_wire).similarity
    assert judged(Thresholds(), first, same_wire).kind == "update"  # 0.8 to 0.9 from the same wire
    assert judged(Thresholds(duplicate=similarity), first, same_wire).kind == "duplicate"
    assert judged(Thresholds(update=similarity, duplicate=1.0), first, same_wire).kind == "update"
    nudged = Thresholds(update=similarity + 0.0001, duplicate=1.0)  # not a near copy: the story matcher's
    assert judged(nudged, first, same_wire).kind == "same_story"


def test_an_exact_copy_sent_again_keeps_its_fingerprint_for_another_retention() -> None:
    index = index_with(article("a1", REPORT, published=T0))
    days = [20, 45]  # each within 30 days of the copy before it, the second 45 days after the first article
    for day in days:
        index.judge(article(f"c{day}", UNRELATED, title="Floods", published=T0 + timedelta(days=day)))
        verdict = index.judge(article(f"a{day}", REPORT, source="Wire B", published=T0 + timedelta(days=day)))
        assert (verdict.kind, verdict.matched_id) == ("duplicate", "a1"), day
    index.judge(article("late", UNRELATED, title="Floods", published=T0 + timedelta(days=45 + 31)))
    assert all(entry["id"] != "a1" for entry in index.tables["exact"].values())  # then forgotten all the same


def test_sketches_without_shingles_are_alike_only_to_each_other() -> None:
    empty, some = np.array([], dtype=np.uint32), signatures.sketch(signatures.shingle_hashes("a few words".split()))
    assert signatures.sketch_jaccard(empty, empty) == 1.0
    assert signatures.sketch_jaccard(empty, some) == signatures.sketch_jaccard(some, empty) == 0.0


def test_after_a_table_recovery_the_decider_judges_as_before() -> None:
    index = index_with(article("a1", REPORT))
    index.bands.forget_derived()
    index.decider.forget_derived()  # what the agent does once its tables are recovered (they may have moved)
    verdict = index.judge(article("a2", REVISED))
    assert (verdict.kind, verdict.matched_id, verdict.added_sentences) == ("update", "a1", [REVISION_SENTENCE])


def test_the_reference_scripts_shingles_are_word_5_grams_of_the_normalised_text() -> None:
    words = signatures.normalise("The Bank, the BANK; raised rates again today!").split()
    assert words == ["the", "bank", "the", "bank", "raised", "rates", "again", "today"]
    assert signatures.shingles(words) == [b"the bank the bank raised", b"bank the bank raised rates",
                                          b"the bank raised rates again", b"bank raised rates again today"]
    assert signatures.shingles(words[:5]) == [b"the bank the bank raised"]  # a short text is one shingle
    assert signatures.shingles(words[:2]) == [b"the bank"] and signatures.shingles([]) == []
