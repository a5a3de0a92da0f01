"""The one place that decides what a dead letter looks like; every stage calls `dead_letter`."""
from __future__ import annotations

import base64
import time

from streams.records import DeadLetter


class BadInput(ValueError):
    """Input a stage rejects; `reason` is a short, bounded code used as metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def dead_letter(stage: str, original: bytes, error: BaseException, *, topic: str | None = None,
                partition: int | None = None, offset: int | None = None) -> DeadLetter:
    """A dead letter for `original`, which `stage` failed on with `error`."""
    reason = error.reason if isinstance(error, BadInput) else "processing_error"
    message = str(error) if isinstance(error, BadInput) else f"{type(error).__name__}: {error}"
    return DeadLetter(
        stage=stage,
        reason=reason,
        error=message[:2000],
        original_b64=base64.b64encode(original).decode("ascii"),
        topic=topic,
        partition=partition,
        offset=offset,
        failed_at=time.time(),
    )


def original_bytes(letter: DeadLetter) -> bytes:
    """The message value that failed, for replaying a dead letter."""
    return base64.b64decode(letter.original_b64)
