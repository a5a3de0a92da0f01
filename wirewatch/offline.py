"""Offline tools over the stages' pure cores, no broker: JSON lines out, for debugging, backfills and evaluation."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import orjson

from agents.alert.core import AlertLedger, AlertThrottle, alerts_for
from agents.alert.facts import StoryFacts
from agents.clean.core import clean_article
from agents.dedup.in_memory import in_memory_index
from agents.ingest.files import load_raw_articles
from agents.rules.ruleset import RuleSet, load_rules
from agents.tag.core import Tagger, tag_articles
from streams.codecs import dumps
from streams.deadletter import BadInput
from streams.records import Alert, CleanArticle, DedupedArticle, TaggedArticle
from streams.settings import Settings
from streams.times import article_time

_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
OUTPUT = "output"  # the offline tools' one sink: the lines they write


def cleaned(paths: list[Path]) -> Iterator[tuple[str, CleanArticle | BadInput]]:
    """(origin, clean article or the reason it was rejected) for every article under `paths`, of any size: offline,
    no broker limits what a message may hold."""
    for message, raw in load_raw_articles(paths, max_bytes=sys.maxsize):
        if isinstance(raw, BadInput):
            yield message.origin, raw
            continue
        try:
            for article in clean_article(raw):
                yield message.origin, article
        except BadInput as error:
            yield message.origin, error


class Rejects:
    """Reports rejected input as JSON lines on stderr and counts it; the offline tools exit 1 when any was."""

    def __init__(self) -> None:
        self.count = 0

    def report(self, origin: str, error: BadInput) -> None:
        self.count += 1
        sys.stderr.buffer.write(dumps({"path": origin, "reason": error.reason, "error": str(error)}) + b"\n")

    def accepted(self, results: Iterator[tuple[str, CleanArticle | BadInput]]) -> Iterator[tuple[str, CleanArticle]]:
        """The clean articles of `results`, reporting the rejects on the way."""
        for origin, result in results:
            if isinstance(result, BadInput):
                self.report(origin, result)
            else:
                yield origin, result

    @property
    def exit_code(self) -> int:
        return 1 if self.count else 0


def _write(out: BinaryIO, obj: object) -> None:
    out.write(dumps(obj) + b"\n")


def clean_paths(paths: list[Path], settings: Settings, out: BinaryIO) -> int:
    """`wirewatch clean`: one cleaned article per line with its input `path`; rejects reported on stderr."""
    rejects = Rejects()
    for origin, article in rejects.accepted(cleaned(paths)):
        _write(out, {"path": origin, **article.asdict()})
    return rejects.exit_code


def tag_file(path: Path, settings: Settings, out: BinaryIO) -> int:
    """`wirewatch tag`: `{"id", "text"}` lines in, `{"id", "entities"}` lines out; offsets index the text as given."""
    tagger = Tagger.from_settings(settings)
    rejects = Rejects()
    batch: list[tuple[object, str]] = []

    def flush() -> None:
        for (identifier, _), mentions in zip(batch, tagger.tag([text for _, text in batch])):
            _write(out, {"id": identifier, "entities": [m.asdict() for m in mentions]})
        batch.clear()

    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError('expected an object with a string "text"')
            except ValueError as error:
                rejects.report(f"{path}:{number}", BadInput("invalid_line", str(error)))
                continue
            batch.append((obj.get("id"), obj["text"]))
            if len(batch) >= settings.tag_batch_size:
                flush()
    flush()
    return rejects.exit_code


def process_paths(paths: list[Path], settings: Settings, out: BinaryIO) -> int:
    """`wirewatch process`: all four stages in one process, articles in publish-time order, one line each."""
    rejects = Rejects()
    deduped = judged_in_order([article for _, article in rejects.accepted(cleaned(paths))], settings)
    tagger = Tagger.from_settings(settings)
    rules = load_rules(settings.rules_file)
    for tagged, raised in raised_alerts(tag_articles(tagger, deduped), rules, AlertThrottle({})):
        _write(out, {
            "id": tagged.article.id, "title": tagged.article.title, "source": tagged.article.source,
            "published": tagged.article.published, "verdict": tagged.verdict.kind,
            "story_id": tagged.verdict.story_id, "matched_id": tagged.verdict.matched_id,
            "similarity": round(tagged.verdict.similarity, 4), "added_sentences": tagged.verdict.added_sentences,
            "entities": [{"canonical": name, "label": label} for name, label in tagged.canonical_entities.items()],
            "alerts": [{"rule_id": a.rule_id, "trigger": a.trigger, "idempotency_key": a.idempotency_key,
                        "matched_entities": a.matched_entities} for a in raised],
        })
    return rejects.exit_code


def judged_in_order(articles: list[CleanArticle], settings: Settings) -> list[DedupedArticle]:
    """`articles` in publish-time order, each with the verdict of one in-memory dedup index over them."""
    in_order = sorted(articles, key=lambda a: a.published or _EARLIEST)  # stable: undated ones keep their order
    index = in_memory_index(settings)
    return [DedupedArticle(article=a, verdict=index.judge(a)) for a in in_order]


def raised_alerts(tagged: Iterable[TaggedArticle], rules: RuleSet, throttle: AlertThrottle | None,
                  ) -> Iterator[tuple[TaggedArticle, list[Alert]]]:
    """Each article with the alerts that reach the output: each idempotency key once, then only those the rules'
    cooldowns and throttles admit over article time (`throttle`; None admits all, to count what they hold back)."""
    ledger, stories = AlertLedger({}), StoryFacts({})
    rule_by_id = {rule.id: rule for rule in rules}
    for article in tagged:
        at = article_time(article.article).timestamp()
        raised = [a for a in alerts_for(article, rules, stories, now=time.time())
                  if ledger.pending(a, [OUTPUT])
                  and (throttle is None or throttle.admit(a, rule_by_id[a.rule_id], at))]
        for alert in raised:
            ledger.mark_delivered(alert, OUTPUT, alert.created_at)
        yield article, raised
