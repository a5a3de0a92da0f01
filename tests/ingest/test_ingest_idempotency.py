"""The `Idempotency-Key`s a clean worker remembers for `POST /ingest`."""
from __future__ import annotations

import pytest

from agents.ingest.idempotency import Answer, IdempotencyKeys, KeyInFlight, KeyReused


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_finished_key_is_answered_again_for_the_same_body_only() -> None:
    keys = IdempotencyKeys()
    assert keys.begin("k", b"body") is None
    keys.finish("k", Answer(202, b'{"ids": ["a"]}'))

    assert keys.begin("k", b"body") == Answer(202, b'{"ids": ["a"]}')
    with pytest.raises(KeyReused):
        keys.begin("k", b"another body")


def test_a_key_in_flight_is_refused_until_finished_or_forgotten() -> None:
    keys = IdempotencyKeys()
    assert keys.begin("k", b"body") is None
    with pytest.raises(KeyInFlight):
        keys.begin("k", b"body")
    keys.forget("k")  # the request failed: a retry sends again
    assert keys.begin("k", b"body") is None


def test_keys_are_forgotten_after_their_time() -> None:
    clock = Clock()
    keys = IdempotencyKeys(ttl=60.0, clock=clock)
    keys.begin("k", b"body")
    keys.finish("k", Answer(202, b"{}"))
    clock.now = 59.0
    assert keys.begin("k", b"body") == Answer(202, b"{}")
    clock.now = 61.0
    assert keys.begin("k", b"body") is None


def test_memory_is_bounded_by_keys_and_by_answer_bytes_least_recently_used_first() -> None:
    keys = IdempotencyKeys(keys=3, answer_bytes=1000)
    for key in "abc":
        keys.begin(key, b"body")
        keys.finish(key, Answer(202, b"{}"))
    keys.begin("a", b"body")  # used again: now the most recent
    keys.begin("d", b"body")
    assert len(keys) == 3
    assert keys.begin("b", b"body") is None  # b was the least recently used: forgotten

    big = IdempotencyKeys(keys=100, answer_bytes=1000)
    for key in "xyz":
        big.begin(key, b"body")
        big.finish(key, Answer(202, b"." * 400))
    assert len(big) == 2 and big.begin("x", b"body") is None
