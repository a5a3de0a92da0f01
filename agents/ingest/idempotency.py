"""The `Idempotency-Key`s of `POST /ingest` a clean worker remembers, so that a retried request is answered again
instead of sent again.

The memory is the worker's own: several clean workers behind a balancer each remember the keys they answered, and a
restarted worker has forgotten them. A request that reaches another worker is sent again; its ids are the same,
so the dedup stage marks the articles it already has as duplicates.
"""
from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

# A retry comes within minutes; a day covers a client that retries the next morning.
TTL_SECONDS = 24 * 3600.0
# The memory's bounds: an answer holds up to `ingest_max_articles` ids, about 20 KB at the default 1,000.
MAX_KEYS = 5_000
MAX_ANSWER_BYTES = 32 * 1024 * 1024


class Answer(NamedTuple):
    """A response as it was given: its status and its JSON body."""

    status: int
    body: bytes


class KeyInFlight(Exception):
    """The key's first request is still being handled."""


class KeyReused(Exception):
    """The key was used for a request with another body."""


@dataclass
class _Entry:
    digest: bytes           # sha256 of the request body
    expires: float          # on the memory's clock
    answer: Answer | None   # None while the first request is in flight


class IdempotencyKeys:
    """Recent keys, each with its request body's hash and, once given, its answer; the least recently used is
    forgotten first when there are more than `keys` or their answers hold more than `answer_bytes`."""

    def __init__(self, *, keys: int = MAX_KEYS, answer_bytes: int = MAX_ANSWER_BYTES, ttl: float = TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max_keys, self._max_bytes, self._ttl, self._clock = keys, answer_bytes, ttl, clock
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, key: str, body: bytes) -> Answer | None:
        """The answer given to `key` with this body, or None when the key is new: it is then in flight until
        `finish` or `forget`. `KeyInFlight` and `KeyReused` say why a request cannot be handled."""
        digest = hashlib.sha256(body).digest()
        entry = self._entries.get(key)
        if entry is not None and entry.expires <= self._clock():
            self.forget(key)
            entry = None
        if entry is None:
            self._entries[key] = _Entry(digest, self._clock() + self._ttl, None)
            self._bytes += len(key)
            self._bound()
            return None
        if entry.digest != digest:
            raise KeyReused(key)
        if entry.answer is None:
            raise KeyInFlight(key)
        self._entries.move_to_end(key)
        return entry.answer

    def finish(self, key: str, answer: Answer) -> None:
        """Remember `answer` as the one to give `key` again, for `ttl` seconds from now."""
        entry = self._entries.get(key)
        if entry is None:  # forgotten while in flight, the memory being full: nothing to answer again with
            return
        entry.answer, entry.expires = answer, self._clock() + self._ttl
        self._bytes += len(answer.body)
        self._entries.move_to_end(key)
        self._bound()

    def forget(self, key: str) -> None:
        """Forget `key`: its request failed or was refused, and a retry is handled anew."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + (len(entry.answer.body) if entry.answer else 0)

    def _bound(self) -> None:
        while len(self._entries) > self._max_keys or self._bytes > self._max_bytes:
            self.forget(next(iter(self._entries)))
