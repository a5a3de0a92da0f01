"""Text fingerprints for dedup: the exact-body hash, a bottom-k sketch of word 5-shingles, and MinHash LSH band keys.

Everything here is a pure function of the text, the same in every process and on every machine (crc32 and fixed
constants, never Python's salted `hash()`), so what one worker stores compares with what another computes. Words
are hashed once per article; shingles, MinHash values and band keys are numpy over those hashes.

Two summaries of the same shingle set, for two jobs:
- the **sketch** (the SKETCH_SIZE smallest shingle hashes) scores a pair: it holds every shingle of a text shorter
  than SKETCH_SIZE shingles, so the Jaccard of two short texts is exact, and it estimates longer ones with a
  standard error of about sqrt(J(1-J)/SKETCH_SIZE);
- the **MinHash signature** (NUM_PERM values) only makes LSH band keys, which find the candidates to score.
"""
from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence

import numpy as np

SHINGLE_SIZE = 5
SKETCH_SIZE = 256
# LSH banding: a pair with Jaccard s shares a band with probability 1 - (1 - s**ROWS)**BANDS. 20 x 6 gives
# s=0.8 → 0.998, s=0.7 → 0.97, s=0.5 → 0.27, s=0.3 → 0.015: near-copies are always candidates, unrelated
# wires rarely. (16 x 8 gave only 0.947 at s=0.8.)
BANDS, ROWS = 20, 6
NUM_PERM = BANDS * ROWS
MINHASH_SEED = 20190630  # fixed: changing it changes every band key, so stored buckets stop matching

_WORD = re.compile(r"[^\W_]+")
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U32_MAX = np.uint32(0xFFFFFFFF)
_rng = np.random.default_rng(MINHASH_SEED)
# MinHash permutation k of a 32-bit hash x: (a_k * x + b_k) mod 2**32, a_k odd (a bijection of the 32-bit values).
_MULTIPLIERS = (_rng.integers(0, 2**32, size=(NUM_PERM, 1), dtype=np.uint64) | np.uint64(1)).astype(np.uint32)
_OFFSETS = _rng.integers(0, 2**32, size=(NUM_PERM, 1), dtype=np.uint64).astype(np.uint32)
_BAND_MULTIPLIERS = _rng.integers(0, 2**63, size=ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def words_of(text: str) -> list[str]:
    """The text's words, lowercased, alphanumerics only: punctuation and spacing differences vanish."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    """Lowercase, alphanumerics only, single spaces."""
    return " ".join(words_of(text))


def body_fingerprint(normalised_body: str) -> str:
    """sha256 hex of the normalised body: equal for bodies that differ only in case, punctuation or spacing."""
    return hashlib.sha256(normalised_body.encode("utf-8")).hexdigest()


def shingles(words: Sequence[str], size: int = SHINGLE_SIZE) -> list[bytes]:
    """Word n-grams as bytes (the exact form, for reference scripts); a short text is one shingle."""
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")] if words else []
    return [" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)]


def word_hashes(words: Sequence[str]) -> np.ndarray:
    """A 64-bit hash per word (crc32, then mixed), as uint64."""
    crc32 = zlib.crc32
    return _mix(np.array([crc32(w.encode("utf-8")) for w in words], dtype=np.uint64) + _GOLDEN)


def ngram_hashes(hashes: np.ndarray, size: int) -> np.ndarray:
    """64-bit hashes of every run of `size` consecutive word hashes; fewer words give one hash of them all."""
    size = min(size, len(hashes))
    if size == 0:
        return hashes[:0]
    count = len(hashes) - size + 1
    combined = hashes[:count].copy()
    for offset in range(1, size):
        combined = combined * _GOLDEN ^ hashes[offset:offset + count]
    return _mix(combined)


def shingle_hashes(words: Sequence[str]) -> np.ndarray:
    """32-bit hashes of the text's word 5-shingles (with repeats), as uint32."""
    return (ngram_hashes(word_hashes(words), SHINGLE_SIZE) >> np.uint64(32)).astype(np.uint32)


def minhash(hashes: np.ndarray) -> np.ndarray:
    """The NUM_PERM MinHash values (uint32) of a set of 32-bit hashes; all ones for an empty set."""
    if len(hashes) == 0:
        return np.full(NUM_PERM, _U32_MAX, dtype=np.uint32)
    return (hashes[np.newaxis, :] * _MULTIPLIERS + _OFFSETS).min(axis=1)


def band_keys(signature: np.ndarray) -> list[str]:
    """LSH band keys, `"{band:02d}{12 hex digits}"`; two articles with an equal key are candidates.

    A band's hash is a random linear combination of its ROWS values, mixed: equal bands give equal keys, and
    different ones collide with probability about 2**-48 (a collision only adds a candidate, which is scored).
    """
    rows = signature.astype(np.uint64).reshape(BANDS, ROWS)
    hashes = _mix((rows * _BAND_MULTIPLIERS).sum(axis=1, dtype=np.uint64)) >> np.uint64(16)
    return [f"{band:02d}{value:012x}" for band, value in enumerate(hashes.tolist())]


def band_partition(band_key: str, partitions: int) -> int:
    """The index partition that owns a band key: the same on every worker, whatever the article's own key."""
    return int(band_key[2:], 16) % partitions


def sketch(hashes: np.ndarray, size: int = SKETCH_SIZE) -> np.ndarray:
    """The `size` smallest distinct values of `hashes` (uint32, sorted): the whole set when it is small."""
    return np.unique(hashes)[:size]


def sketch_jaccard(first: np.ndarray, second: np.ndarray, size: int = SKETCH_SIZE) -> float:
    """Jaccard of the two sets the sketches summarise: exact when neither was cut to `size`, else estimated.

    A cut sketch holds its set's values up to its last one; below the lower of the two cut-offs both sketches hold
    every value of their set, so the Jaccard of what lies there is an unbiased sample of the whole (bottom-k).
    """
    if len(first) == 0 or len(second) == 0:
        return 1.0 if len(first) == len(second) else 0.0
    limit = min(first[-1] if len(first) >= size else _U32_MAX, second[-1] if len(second) >= size else _U32_MAX)
    if limit != _U32_MAX:
        first, second = first[first <= limit], second[second <= limit]
    at = np.searchsorted(second, first)
    at[at == len(second)] = 0
    common = int(np.count_nonzero(second[at] == first))
    return common / (len(first) + len(second) - common)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    values = (values ^ (values >> np.uint64(30))) * _MIX_1
    values = (values ^ (values >> np.uint64(27))) * _MIX_2
    return values ^ (values >> np.uint64(31))
