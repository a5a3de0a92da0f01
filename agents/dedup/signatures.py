"""Text fingerprints for dedup: the exact-body hash, two MinHash signatures and their LSH band keys.

Everything here is a pure function of the text, stable across processes (fixed MinHash seed, sha1/blake2b
hashes, never Python's salted `hash()`), so signatures stored by one worker compare with another's.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np
from datasketch import MinHash
from spacy.lang.en.stop_words import STOP_WORDS

NUM_PERM = 128
MINHASH_SEED = 20190630  # fixed: changing it invalidates every stored signature
SHINGLE_SIZE = 5
# LSH banding, bands × rows = NUM_PERM. A pair with Jaccard s becomes a candidate with probability
# 1 - (1 - s**rows)**bands; the S-curve's midpoint is about (1/bands)**(1/rows).
# Shingles 16×8: midpoint 0.71; s=0.9 → 0.9999, s=0.5 → 0.06 (few false candidates for duplicate_threshold 0.9).
# Content 64×2: midpoint 0.125; s=0.2 → 0.93, s=0.3 → 0.998 (story_threshold 0.2 needs the low midpoint;
# the extra candidates are cheap to reject by comparing stored signatures).
SHINGLE_BANDS, SHINGLE_ROWS = 16, 8
CONTENT_BANDS, CONTENT_ROWS = 64, 2

_NON_ALNUM = re.compile(r"[\W_]+")
# One set of permutations for every MinHash: generating them per instance costs more than hashing a short article.
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32").permutations


def normalise(text: str) -> str:
    """Lowercase, alphanumerics only, single spaces: punctuation and spacing differences vanish."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def body_fingerprint(normalised_body: str) -> str:
    """sha256 hex of the normalised body: equal for bodies that differ only in case, punctuation or spacing."""
    return hashlib.sha256(normalised_body.encode("utf-8")).hexdigest()


def shingles(words: Sequence[str], size: int = SHINGLE_SIZE) -> list[bytes]:
    """Word n-grams as bytes; a text shorter than `size` words is one shingle."""
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")] if words else []
    return [" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)]


def content_words(words: Iterable[str]) -> list[bytes]:
    """Distinct words that carry the story: no stopwords, longer than two characters, in first-seen order."""
    kept = dict.fromkeys(w for w in words if len(w) > 2 and w not in STOP_WORDS)
    return [w.encode("utf-8") for w in kept]


def minhash_signature(tokens: list[bytes]) -> list[int]:
    """The 128 MinHash values of a token set, as plain ints (JSON-serialisable)."""
    sketch = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, permutations=_PERMUTATIONS, scheme="affine32")
    sketch.update_batch(tokens)
    return sketch.hashvalues.tolist()


def band_keys(kind: str, signature: Sequence[int], bands: int, rows: int) -> list[str]:
    """LSH band keys `"{kind}:{band_no}:{hash of the band's values}"`; equal keys make two articles candidates."""
    values = np.asarray(signature, dtype=np.uint32)
    keys = []
    for band_no in range(bands):
        digest = hashlib.blake2b(values[band_no * rows:(band_no + 1) * rows].tobytes(), digest_size=8).hexdigest()
        keys.append(f"{kind}:{band_no}:{digest}")
    return keys


def estimated_jaccard(signature: Sequence[int], others: Sequence[Sequence[int]]) -> np.ndarray:
    """Estimated Jaccard of one signature to each of `others`: the share of equal MinHash values."""
    if not others:
        return np.zeros(0)
    return (np.asarray(others, dtype=np.uint32) == np.asarray(signature, dtype=np.uint32)).mean(axis=1)
