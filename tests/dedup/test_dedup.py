"""The dedup core: duplicates, updates, same-story rewrites and new stories, on synthetic text and the seeds."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agents.clean.core import clean_article
from agents.dedup import sentences, signatures
from agents.dedup.bands import BandIndex
from agents.dedup.hours import HourLog
from agents.dedup.in_memory import TABLE_NAMES
from agents.dedup.route import Router
from agents.dedup.sentences import split_sentences
from agents.dedup.sequence import Sequencer
from streams.codecs import HASH32, pack_hashes
from streams.records import CleanArticle, DedupCandidates, DedupVerdict, RawArticle
from tests.conftest import shared_data
from tests.dedup.dedup_articles import (
    REPORT,
    REVISION_SENTENCE,
    REWRITE,
    T0,
    UNRELATED,
    AssignmentOnlyTable,
    article,
    index_with,
    new_index,
)

# --- synthetic articles ---------------------------------------------------------------------------------------

def test_same_text_twice_is_a_duplicate_of_the_first() -> None:
    index = index_with(article("a1", REPORT))
    verdict = index.judge(article("a2", REPORT, source="Wire B"))
    assert (verdict.kind, verdict.matched_id, verdict.story_id, verdict.similarity) == ("duplicate", "a1", "a1", 1.0)


def test_whitespace_and_punctuation_differences_are_a_duplicate() -> None:
    reformatted = [p.replace(", ", " ,  ").replace(".", "!").upper() for p in REPORT]
    verdict = index_with(article("a1", REPORT)).judge(article("a2", ["\n".join(reformatted)]))
    assert (verdict.kind, verdict.similarity) == ("duplicate", 1.0)


def test_last_word_changed_is_a_near_duplicate() -> None:
    edited = [*REPORT[:2], REPORT[2].replace("afternoon trading.", "afternoon deals.")]
    verdict = index_with(article("a1", REPORT)).judge(article("a2", edited, source="Wire B"))
    assert verdict.kind == "duplicate"
    assert verdict.matched_id == "a1"
    assert 0.9 <= verdict.similarity < 1.0


def test_same_source_revision_is_an_update_carrying_only_the_added_sentence() -> None:
    revised = [*REPORT, REVISION_SENTENCE]
    verdict = index_with(article("a1", REPORT)).judge(article("a2", revised, published=T0 + timedelta(hours=2)))
    assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("update", "a1", "a1")
    assert verdict.added_sentences == [REVISION_SENTENCE]
    assert verdict.similarity >= 0.8


def test_same_source_follow_up_below_the_update_overlap_joins_the_story() -> None:
    # A sentence inserted mid-text changes the shingles on both sides: J 0.78 to the first version, a new article
    # of the story rather than a revision (unless the wire marks it as one, below).
    revised = [*REPORT[:2], REVISION_SENTENCE, REPORT[2]]
    verdict = index_with(article("a1", REPORT)).judge(article("a2", revised, published=T0 + timedelta(hours=2)))
    assert (verdict.kind, verdict.story_id) == ("same_story", "a1")
    assert verdict.added_sentences == [REVISION_SENTENCE]


def test_same_source_copy_with_a_figure_changed_is_an_update() -> None:
    changed = [REPORT[0].replace("half a percentage point", "three quarters of a percentage point"), *REPORT[1:]]
    verdict = index_with(article("a1", REPORT)).judge(article("a2", changed))
    assert (verdict.kind, verdict.matched_id, verdict.added_sentences) == ("update", "a1", [])
    assert 0.8 <= verdict.similarity < 0.9


def test_other_source_copy_with_a_figure_changed_is_a_duplicate() -> None:
    changed = [REPORT[0].replace("half a percentage point", "three quarters of a percentage point"), *REPORT[1:]]
    verdict = index_with(article("a1", REPORT)).judge(article("b1", changed, source="Wire B"))
    assert (verdict.kind, verdict.matched_id) == ("duplicate", "a1")


def test_marked_correction_updates_the_wire_it_corrects_whatever_the_overlap() -> None:
    table = ["Freedonia Steel Corp fourth quarter", "Shr 41 cts vs 37 cts", "Net 12.4 mln vs 11.0 mln",
             "Revs 301.2 mln vs 288.9 mln"]
    corrected = ["Freedonia Steel Corp fourth quarter", "Shr 14 cts vs 37 cts", "Net 4.2 mln vs 11.0 mln",
                 "Revs 103.2 mln vs 288.9 mln"]
    index = index_with(article("a1", table, source="Reuters", title="Freedonia Steel Corp 4th qtr net"))
    verdict = index.judge(article("a2", corrected, source="Reuters", title="Freedonia Steel Corp 4th qtr net")
                          .derive(update_note="CORRECTED"))
    assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("update", "a1", "a1")


def test_marked_correction_of_the_headline_alone_is_an_update_not_a_duplicate() -> None:
    index = index_with(article("a1", REPORT, title="Freedonia raises rates by a quarter point"))
    corrected = article("a2", REPORT, title="Freedonia raises rates by half a point").derive(update_note="CORRECTED")
    assert (index.judge(corrected).kind, index.judge(corrected.derive(id="a3")).kind) == ("update", "update")
    resent = article("a4", REPORT, title="Freedonia raises rates by a quarter point").derive(update_note="CORRECTED")
    assert index.judge(resent).kind == "duplicate"  # the same headline: nothing was corrected


def test_exact_copy_weeks_later_is_still_a_duplicate() -> None:
    index = index_with(article("a1", REPORT, published=T0))
    index.judge(article("c1", UNRELATED, title="Floods", published=T0 + timedelta(days=20)))
    verdict = index.judge(article("a2", REPORT, published=T0 + timedelta(days=21)))
    assert (verdict.kind, verdict.matched_id, verdict.similarity) == ("duplicate", "a1", 1.0)
    assert "a1" not in index.tables["articles"]  # only the fingerprint outlives the 7-day retention


def test_update_matches_the_latest_version_from_that_source() -> None:
    v2 = [*REPORT, REVISION_SENTENCE]
    v3 = [*v2, "Analysts at two banks said they now expect a further increase in September."]
    index = index_with(article("a1", REPORT, source="Wire A"), article("a2", v2, source="wire a"))
    verdict = index.judge(article("a3", v3, source="WIRE A"))
    assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("update", "a2", "a1")
    assert verdict.added_sentences == [v3[-1]]


def test_other_source_rewrite_joins_the_story() -> None:
    verdict = index_with(article("a1", REPORT)).judge(article("b1", REWRITE, source="Wire B"))
    assert (verdict.kind, verdict.matched_id, verdict.story_id) == ("same_story", "a1", "a1")
    assert verdict.similarity >= 0.2
    assert verdict.added_sentences  # a rewrite says things in new words


def test_rewrite_without_a_source_joins_the_story_and_is_not_an_update() -> None:
    verdict = index_with(article("a1", REPORT)).judge(article("b1", REWRITE, source=None))
    assert verdict.kind == "same_story"


def test_unrelated_article_is_a_new_story() -> None:
    verdict = index_with(article("a1", REPORT)).judge(article("c1", UNRELATED, title="Floods"))
    assert verdict == DedupVerdict(kind="new", story_id="c1")


def test_rewrite_published_outside_the_window_is_a_new_story() -> None:
    index = index_with(article("a1", REPORT))
    verdict = index.judge(article("b1", REWRITE, source="Wire B", published=T0 + timedelta(hours=73)))
    assert (verdict.kind, verdict.story_id) == ("new", "b1")


def test_unknown_publish_time_has_no_window() -> None:
    verdict = index_with(article("a1", REPORT)).judge(article("b1", REWRITE, source="Wire B", published=None))
    assert verdict.kind == "same_story"


def test_first_article_of_a_story_is_new_and_recorded() -> None:
    index = new_index()
    assert index.judge(article("a1", REPORT)) == DedupVerdict(kind="new", story_id="a1")
    assert index.tables["stories"]["a1"]["versions"] == ["a1"]
    assert index.tables["articles"]["a1"]["story_id"] == "a1"


def test_state_is_persisted_only_by_assignment() -> None:
    tables = {name: AssignmentOnlyTable() for name in TABLE_NAMES}
    index = new_index(tables=tables)
    verdicts = [index.judge(a) for a in (
        article("a1", REPORT), article("a2", [*REPORT, REVISION_SENTENCE]),
        article("b1", REWRITE, source="Wire B"), article("a3", REPORT, source="Wire C"))]
    assert [v.kind for v in verdicts] == ["new", "update", "same_story", "duplicate"]
    assert tables["stories"]["a1"]["versions"] == ["a1", "a2", "b1"]


def test_same_input_order_gives_the_same_verdicts_and_state() -> None:
    stream = [article("a1", REPORT), article("c1", UNRELATED), article("b1", REWRITE, source="Wire B"),
              article("a2", [*REPORT, REVISION_SENTENCE])]
    first, second = new_index(), new_index()
    assert [first.judge(a) for a in stream] == [second.judge(a) for a in stream]
    assert first.tables == second.tables


def test_band_keys_sketches_fingerprints_and_sentence_hashes_are_pinned() -> None:
    """What the tables store must compare with what any worker computes, after an upgrade too: a change to these
    values would silently orphan every stored band key, fingerprint and sentence hash (a salted hash() would change
    them per process). Reference values computed once and written out."""
    text = "Kim Jong Un and Donald Trump met at the demilitarized zone on Sunday."
    hashes = signatures.shingle_hashes(signatures.words_of(text))
    assert signatures.band_keys(signatures.minhash(hashes)) == [
        "00ba7b2658c064", "01c3d034e1e990", "02aa2516b8dcf4", "039cadddb83a36", "04a0b553449ad5", "05043a123300be",
        "06f497fe8724df", "07420cf1505653", "087bef136e76a2", "090ba613ef73cd", "10856b7f7b173a", "11a8990029a75d",
        "12edae2fa7ab6f", "1303ac983a0575", "14dbccbb5eb634", "15f06fc7dc15e6", "16d79e0fd5e17c", "174aa0e629f2e2",
        "1880df5bf92fb2", "19c674537acbf2"]
    assert pack_hashes(signatures.sketch(hashes), HASH32) == "m56JJKV1mFrOHV+DhEAehDT825ahgg+kQNigvJgd5Nnfqk7c"
    assert signatures.body_fingerprint(signatures.normalise(text)) == (  # sha256 of the normalised text
        "134cdc95ee0c371465ea5bf8508896633e5b43d407cd622a3274e2d922d95bfe")
    assert pack_hashes(sentences.article_trigrams(sentences.sentence_trigrams([text]))) == (
        "aOFrMe2hAABHm6MpJpoAAPGtslmk5wAAhtk2cdYEAABnJwfaOWkAAC+8CUPX5wAAyCS5i3tNAABikhTb+XQAAGE7rjP7OAAA"
        "29MSePv6AACDBluAhB4AAA==")


def test_entries_older_than_the_retention_are_forgotten_in_stream_time() -> None:
    index = index_with(article("old", REPORT, published=T0))  # 2019 publish times: wall time would expire all
    assert index.judge(article("d6", UNRELATED, published=T0 + timedelta(days=6))).kind == "new"
    assert "old" in index.tables["articles"]
    near_copy = [*REPORT[:2], REPORT[2].replace("afternoon trading.", "afternoon deals.")]
    assert index.judge(article("again", near_copy, published=T0 + timedelta(days=8))).kind == "new"
    tables = index.tables
    assert "old" not in tables["articles"] and "old" not in tables["stories"]
    assert not any(key.startswith("old@") for key in tables["verdicts"])
    assert all(entry["id"] != "old" for entry in tables["entries"].values())
    assert all(0 not in seqs for derived in index.bands._derived.values() for seqs in derived.buckets.values())
    assert not any(story_id == "old" for story_id in tables["story-vectors"])


def test_exact_fingerprints_are_forgotten_after_their_own_retention() -> None:
    index = index_with(article("old", REPORT, published=T0))
    index.judge(article("d31", UNRELATED, title="Floods", published=T0 + timedelta(days=31)))
    assert index.judge(article("again", REPORT, published=T0 + timedelta(days=31))).kind == "new"
    assert all(entry["id"] != "old" for entry in index.tables["exact"].values())


def test_verdicts_do_not_depend_on_the_number_of_index_partitions() -> None:
    stream = [article("a1", REPORT), article("c1", UNRELATED), article("b1", REWRITE, source="Wire B"),
              article("a2", [*REPORT, REVISION_SENTENCE]), article("a3", REPORT, source="Wire C")]
    verdicts = {n: [new_index(partitions=n).judge(a) for a in stream] for n in (1, 2, 3, 7)}
    assert verdicts[1] == verdicts[2] == verdicts[3] == verdicts[7]


def test_a_band_partition_answers_a_replayed_probe_as_before() -> None:
    router, bands = Router({}, partitions=1), BandIndex({}, retention=timedelta(days=7))
    probes = [router.route(a, seq)[1][0] for seq, a in enumerate([article("a1", REPORT), article("a2", REPORT)])]
    first = [bands.probe(0, probe) for probe in probes]
    assert [bands.probe(0, probe) for probe in probes] == first
    assert [[c[0] for c in answer.candidates] for answer in first] == [[], ["a1"]]


def test_a_band_partition_rebuilt_from_its_entries_answers_as_the_live_one() -> None:
    stream = [article("a1", REPORT), article("c1", UNRELATED), article("a2", REPORT), article("a3", REPORT)]
    router, entries = Router({}, partitions=2), AssignmentOnlyTable()
    live = BandIndex(entries, retention=timedelta(days=7))
    routed = [router.route(a, seq) for seq, a in enumerate(stream)]
    for _, probes in routed[:3]:
        for partition, probe in probes.items():
            live.probe(partition, probe)
    rebuilt = BandIndex(entries, retention=timedelta(days=7))  # another worker, after a rebalance
    _, last = routed[3]
    answers = {partition: rebuilt.probe(partition, probe) for partition, probe in last.items()}
    assert answers == {partition: live.probe(partition, probe) for partition, probe in last.items()}
    assert {c[0] for answer in answers.values() for c in answer.candidates} == {"a1", "a2"}  # the earlier copies


def test_sequencer_releases_in_stream_order_once_every_partition_answered() -> None:
    router, sequencer = Router({}, partitions=3), Sequencer({})
    routed = [router.route(a, seq) for seq, a in enumerate([article("a1", REPORT), article("c1", UNRELATED)])]
    (first, first_probes), (second, second_probes) = routed

    def answer(seq: int, partition: int) -> DedupCandidates:
        return DedupCandidates(seq=seq, partition=partition, candidates=[[f"x{seq}{partition}", seq]])

    # Manifests come in stream order on one partition; answers come in any order.
    assert [sequencer.add_answer(answer(1, p)) for p in second_probes] == [[]] * len(second_probes)
    assert sequencer.add_manifest(first) == []
    assert sequencer.add_manifest(second) == []
    *waiting, last = sorted(first_probes)
    assert [sequencer.add_answer(answer(0, p)) for p in waiting] == [[]] * len(waiting)
    released = sequencer.add_answer(answer(0, last))
    assert [(m.seq, [c[0] for c in candidates]) for m, candidates in released] == [
        (0, [f"x0{p}" for p in sorted(first_probes)]), (1, [f"x1{p}" for p in sorted(second_probes)])]
    assert sequencer.add_manifest(first) == [] and sequencer.add_answer(answer(0, last)) == []  # re-deliveries


def test_sequencer_drops_answers_whose_manifest_never_came() -> None:
    router, sequencer = Router({}, partitions=2), Sequencer({})
    (lost, lost_probes), (kept, kept_probes) = [router.route(a, seq) for seq, a in
                                                enumerate([article("a1", REPORT), article("c1", UNRELATED)])]
    for partition in lost_probes:
        sequencer.add_answer(DedupCandidates(seq=lost.seq, partition=partition, candidates=[]))
    sequencer.add_manifest(kept)
    released = [r for p in kept_probes
                for r in sequencer.add_answer(DedupCandidates(seq=1, partition=p, candidates=[]))]
    assert [m.seq for m, _ in released] == [1]


@pytest.mark.parametrize(("paragraph", "expected"), [
    ("U.S. President Donald Trump spoke. He left.", ["U.S. President Donald Trump spoke.", "He left."]),
    ("“I’d love to say hello,” he said. “Let’s see.” Then Mr. Moon spoke!",
     ["“I’d love to say hello,” he said.", "“Let’s see.”", "Then Mr. Moon spoke!"]),
    ("Rates rose 1.5 pct. Is that a lot? Yes", ["Rates rose 1.5 pct.", "Is that a lot?", "Yes"]),
])
def test_sentence_splitter(paragraph: str, expected: list[str]) -> None:
    assert split_sentences(paragraph) == expected


# --- the seeds, through the clean stage ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_articles(seed_paths: list) -> list[CleanArticle]:
    """Bloomberg v1, Bloomberg v2, the other outlet's article: the clean stage's output for the two seeds."""
    cleaned = [a for path in seed_paths
               for a in clean_article(RawArticle(text=path.read_text(encoding="utf-8"), origin=str(path)))]
    assert len(cleaned) == 3, [a.title for a in cleaned]
    return cleaned


def test_seed_versions_and_other_outlet_form_one_story(seed_articles: list[CleanArticle]) -> None:
    v1, v2, other = seed_articles
    index = new_index()
    assert index.judge(v1).kind == "new"
    update = index.judge(v2)
    assert (update.kind, update.matched_id, update.story_id) == ("update", v1.id, v1.id)
    added = " ".join(update.added_sentences)
    assert "Ko Min-jung" in added or "Yonhap" in added
    joined = index.judge(other)
    assert (joined.kind, joined.story_id) == ("same_story", v1.id)
    for seed in seed_articles:
        reingested = seed.derive(ingested_at=seed.ingested_at + 60.0)
        assert index.judge(reingested).kind == "duplicate"


def test_replayed_delivery_gets_its_first_verdict(seed_articles: list[CleanArticle]) -> None:
    v1, v2, _ = seed_articles
    index = new_index()
    first = [index.judge(v1), index.judge(v2)]
    assert [index.judge(v1), index.judge(v2)] == first
    assert [v.kind for v in first] == ["new", "update"]


# --- real wire copy ---------------------------------------------------------------------------------------------

def reuters_articles(limit: int) -> list[CleanArticle]:
    """The first `limit` Reuters-21578 bodies by date, paragraphs split where the wire indents."""
    path = shared_data("reuters21578/reuters21578.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [r for r in map(json.loads, lines) if r.get("body") and r.get("date")]
    records.sort(key=lambda r: (r["date"], r["newid"]))
    return [CleanArticle(id=str(r["newid"]), title=r.get("title") or "", source="Reuters",
                         paragraphs=[" ".join(p.split())
                                     for p in r["body"].removesuffix("Reuter\n&#3;").split("\n    ")],
                         published=datetime.fromisoformat(r["date"]).replace(tzinfo=UTC))
            for r in records[:limit]]


def test_reuters_verdicts_do_not_depend_on_the_number_of_index_partitions() -> None:
    articles = reuters_articles(600)
    one, three = new_index(partitions=1), new_index(partitions=3)
    assert [one.judge(a) for a in articles] == [three.judge(a) for a in articles]


def test_reuters_identical_bodies_are_duplicates() -> None:
    articles = reuters_articles(1000)
    index = new_index()
    first_with_body: dict[str, str] = {}
    for wire in articles:
        verdict = index.judge(wire)
        body = " ".join(wire.body.split())
        if body in first_with_body:
            assert (verdict.kind, verdict.matched_id) == ("duplicate", first_with_body[body]), wire.id
        first_with_body.setdefault(body, wire.id)
    assert len(first_with_body) < len(articles)  # the sample does hold identical bodies


def test_known_trigrams_are_used_only_for_the_versions_they_were_built_for() -> None:
    built: list[list[str]] = []

    def build(versions: Sequence[str]) -> Counter[int]:
        built.append(list(versions))
        return Counter([len(versions)])

    known = sentences.KnownTrigrams(size=2)
    assert known.get("s", ["a"], build) == Counter([1])
    known.put("s", ["a", "b"], Counter([7]))
    assert known.get("s", ["a", "b"], build) == Counter([7]) and len(built) == 1
    assert known.get("s", ["b", "c"], build) == Counter([2])  # a versions list it was not told about is rebuilt
    known.drop("s")
    assert known.get("s", ["b", "c"], build) == Counter([2]) and len(built) == 3
    known.get("t", ["x"], build)
    known.get("u", ["y"], build)
    assert known.get("s", ["b", "c"], build) == Counter([2]) and len(built) == 6  # bounded: "s" had left


# (versions kept, time between articles): a day apart, articles expire while still listed (20 kept); an hour apart
# nothing expires, but the story's list is cut (3 kept). Either way the first article's news is forgotten by the end.
@pytest.mark.parametrize(("kept", "spacing"), [(20, timedelta(days=1)), (3, timedelta(hours=1))])
def test_story_trigrams_give_the_same_verdicts_with_and_without_the_cache(
        kept: int, spacing: timedelta, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.dedup.decide.STORY_VERSIONS_KEPT", kept)
    news = ["Pension funds cheered the higher returns on their bond holdings.",
            "Exporters in the north fear a stronger currency will cost them orders.",
            "Farm lobbies asked parliament for cheaper loans before the harvest.",
            "Retail chains reported slower sales of furniture and cars in June.",
            "Trade unions announced a march on the central bank next Friday.",
            "Opposition lawmakers accused the cabinet of losing control of prices.",
            "Foreign investors bought record amounts of two-year notes at auction.",
            "Small lenders raised deposit rates within hours of the announcement.",
            "Mortgage brokers expect applications to fall sharply over the summer.",
            "Carmakers postponed price increases planned for the autumn models.",
            "Airline executives blamed fuel costs rather than interest rates.",
            "Port operators said container traffic has not slowed at all."]
    stream = [article(f"a{n}", [*REPORT[n % 3:], sentence, *REPORT[:n % 3]], published=T0 + n * spacing)
              for n, sentence in enumerate(news)]
    stream.append(article("again", [news[0], *REPORT], published=T0 + 12 * spacing))
    cached, uncached = new_index(), new_index()
    uncached.decider._known = sentences.KnownTrigrams(size=0)
    rebuilt: list[Sequence[str]] = []
    build = cached.decider._trigrams_of

    def counted_build(article_ids: Sequence[str]) -> Counter[int]:
        rebuilt.append(article_ids)
        return build(article_ids)

    monkeypatch.setattr(cached.decider, "_trigrams_of", counted_build)
    verdicts = [cached.judge(a) for a in stream]
    assert verdicts == [uncached.judge(a) for a in stream]
    assert {v.story_id for v in verdicts} == {"a0"} and all(v.added_sentences for v in verdicts[1:])
    assert verdicts[-1].added_sentences == [news[0]]
    assert len(cached.tables["stories"]["a0"]["versions"]) == min(kept, len(stream))
    # A cut list updates the cached counts (its oldest article's 3-grams leave); only expiry makes a rebuild.
    assert bool(rebuilt) == (spacing >= timedelta(days=1))


def _pair_with_jaccard(rng: np.random.Generator, size: int, jaccard: float) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of distinct 32-bit values, `size` each, sharing enough values for the given Jaccard."""
    shared = round(2 * size * jaccard / (1 + jaccard))
    values = rng.choice(2**32, size=2 * size - shared, replace=False).astype(np.uint32)
    return values[:size], np.concatenate([values[:shared], values[size:]])


def test_minhash_estimates_jaccard_without_bias() -> None:
    rng = np.random.default_rng(5)
    errors = []
    for target in (0.2, 0.5, 0.8, 0.9):
        for _ in range(60):
            first, second = _pair_with_jaccard(rng, 200, target)
            exact = len(set(first.tolist()) & set(second.tolist())) / len(set(first.tolist()) | set(second.tolist()))
            estimate = float((signatures.minhash(first) == signatures.minhash(second)).mean())
            errors.append((estimate - exact) / np.sqrt(exact * (1 - exact) / signatures.NUM_PERM))
    assert abs(np.mean(errors)) < 0.15  # no bias, in standard errors of an ideal MinHash
    assert 0.7 < np.std(errors) < 1.3   # and the spread of an ideal one


def test_sketch_jaccard_is_exact_below_the_sketch_size_and_close_above_it() -> None:
    rng = np.random.default_rng(9)
    small = _pair_with_jaccard(rng, 100, 0.8)
    exact = len(set(small[0].tolist()) & set(small[1].tolist())) / len(set(small[0].tolist()) | set(small[1].tolist()))
    assert signatures.sketch_jaccard(signatures.sketch(small[0]), signatures.sketch(small[1])) == exact
    deviations = []
    for _ in range(50):
        first, second = _pair_with_jaccard(rng, 2000, 0.8)
        deviations.append(signatures.sketch_jaccard(signatures.sketch(first), signatures.sketch(second)) - 0.8)
    assert abs(np.mean(deviations)) < 0.01 and np.std(deviations) < 0.04  # sd ≈ sqrt(0.8 · 0.2 / 256) = 0.025


def test_hour_log_gives_back_whole_hours_before_a_time_once() -> None:
    table = AssignmentOnlyTable()
    log, other = HourLog(table, "a:"), HourLog(table, "b:")
    for minute, value in [(0, "x"), (30, "y"), (70, "z"), (200, "w")]:
        log.note(minute * 60.0, value)
    other.note(0.0, "elsewhere")
    assert log.take_before(60 * 60.0) == ["x", "y"]  # hour 0 only: hour 1 is not wholly before 01:00
    assert log.take_before(60 * 60.0) == []
    assert log.take_before(4 * 3600.0) == ["z", "w"]
    assert other.take_before(4 * 3600.0) == ["elsewhere"]
    assert dict(table.items()) == {"a:hours": [], "b:hours": []}
