"""The one place that decides what a dead letter looks like; every stage calls `dead_letter`."""
from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Mapping

import faust
import orjson
from faust.types import Message

from streams.metrics import ARTICLES, DEAD_LETTERS
from streams.records import DeadLetter

log = logging.getLogger(__name__)

# The Kafka header in which ingest names where a raw message came from (file and line, feed URL, HTTP request).
ORIGIN_HEADER = "wirewatch-origin"
# Kafka messages are capped near 1 MB, so a dead letter keeps at most this much of the original, plus its hash.
MAX_KEPT_ORIGINAL = 256 * 1024


class BadInput(ValueError):
    """Input a stage rejects; `reason` is a short, bounded code used as metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def ensure_fits(record: faust.Record, max_bytes: int) -> None:
    """Raise `BadInput("too_large")` when `record` exceeds the message limit, so the stage dead-letters its input.

    Checked before the send because Faust publishes what an agent sends when the event is acknowledged, outside
    the agent's code: a producer's size error there stops the worker.
    """
    if (size := len(record.dumps())) > max_bytes:
        raise BadInput("too_large", f"its {type(record).__name__} record of {size} bytes exceeds the {max_bytes} "
                                    f"byte limit (WIREWATCH_MAX_MESSAGE_BYTES)")


def dead_letter(stage: str, original: bytes, error: BaseException, *, topic: str | None = None,
                partition: int | None = None, offset: int | None = None, origin: str | None = None) -> DeadLetter:
    """A dead letter for `original`, which `stage` failed on with `error`."""
    reason = error.reason if isinstance(error, BadInput) else "processing_error"
    message = str(error) if isinstance(error, BadInput) else f"{type(error).__name__}: {error}"
    return DeadLetter(
        stage=stage,
        reason=reason,
        error=message[:2000],
        original_b64=base64.b64encode(original[:MAX_KEPT_ORIGINAL]).decode("ascii"),
        topic=topic,
        partition=partition,
        offset=offset,
        origin=origin,
        original_size=len(original),
        original_sha256=hashlib.sha256(original).hexdigest(),
        truncated=len(original) > MAX_KEPT_ORIGINAL,
        failed_at=time.time(),
    )


async def send_dead_letter(topic: faust.TopicT, stage: str, original: bytes | None, error: BaseException,
                           message: Message | None = None, *, counts_article: bool = True) -> DeadLetter:
    """Send `original` to the dead-letter topic with the reason, count it and log it (without the payload).

    `counts_article=False` for what is not an article the stage failed on (an alert a sink gave up on).
    """
    letter = dead_letter(stage, original or b"", error, topic=message.topic if message else None,
                         partition=message.partition if message else None,
                         offset=message.offset if message else None, origin=origin_of(original, message))
    await topic.send(key=stage.encode(), value=letter)
    record_dead_letter(stage, letter, counts_article=counts_article)
    return letter


def origin_headers(origin: str) -> list[tuple[str, bytes]]:
    """Kafka headers naming where a raw message came from, so a stage that cannot even parse it can say so."""
    return [(ORIGIN_HEADER, origin.encode("utf-8", "replace"))]


def origin_of(original: bytes | None, message: Message | None) -> str | None:
    """Where a failed message came from: its ingest's origin header, else the `origin` its record carries."""
    headers = (message.headers or ()) if message is not None else ()
    for key, value in headers.items() if isinstance(headers, Mapping) else headers:
        if key == ORIGIN_HEADER and value:
            return bytes(value).decode("utf-8", "replace")
    try:
        obj = orjson.loads(original or b"")
    except orjson.JSONDecodeError:
        return None
    for record in (obj, obj.get("article")) if isinstance(obj, dict) else ():
        if isinstance(record, dict) and isinstance(origin := record.get("origin"), str):
            return origin
    return None


def record_dead_letter(stage: str, letter: DeadLetter, *, counts_article: bool = True) -> None:
    """Count and log a dead letter that was sent (without its payload)."""
    DEAD_LETTERS.labels(stage, letter.reason).inc()
    if counts_article:
        ARTICLES.labels(stage, "failed").inc()
    log.warning("dead letter", extra={"stage": stage, "reason": letter.reason, "error": letter.error[:300],
                                      "topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
                                      "origin": letter.origin})
