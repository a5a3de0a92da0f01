"""Text fingerprints for dedup: the exact-body hash, two MinHash signatures and their LSH band keys.

Everything here is a pure function of the text, stable across processes and machines (crc32, blake2b and fixed
mixing constants, never Python's salted `hash()`), so signatures stored by one worker compare with another's.
Hashing is vectorised: each word is hashed once (crc32) and n-grams are combined in numpy, which makes a
signature about five times cheaper than hashing every shingle string.
"""
from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Iterable, Sequence

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

NUM_PERM = 128
MINHASH_SEED = 20190630  # fixed: changing it invalidates every stored signature
SHINGLE_SIZE = 5
# LSH banding, bands × rows = NUM_PERM. A pair with Jaccard s becomes a candidate with probability
# 1 - (1 - s**rows)**bands; the S-curve's midpoint is about (1/bands)**(1/rows).
# Shingles 16×8: midpoint 0.71; s=0.8 → 0.98, s=0.9 → 0.9999, s=0.5 → 0.06 (few false candidates).
# Content 64×2: midpoint 0.125; s=0.2 → 0.93, s=0.3 → 0.998 (stories need the low midpoint; the extra
# candidates are cheap to reject by comparing signatures).
SHINGLE_BANDS, SHINGLE_ROWS = 16, 8
CONTENT_BANDS, CONTENT_ROWS = 64, 2

_NON_ALNUM = re.compile(r"[\W_]+")
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# One 64-bit salt per permutation: the k-th MinHash value is the minimum of mix(token hash ^ salt_k).
_WORD_CRC: dict[str, int] = {}  # a news vocabulary is a few hundred thousand words: cheap to remember
_WORD_CACHE_SIZE = 500_000
_SALTS = np.random.default_rng(MINHASH_SEED).integers(0, 2**63, size=(NUM_PERM, 1), dtype=np.uint64)


def normalise(text: str) -> str:
    """Lowercase, alphanumerics only, single spaces: punctuation and spacing differences vanish."""
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def body_fingerprint(normalised_body: str) -> str:
    """sha256 hex of the normalised body: equal for bodies that differ only in case, punctuation or spacing."""
    return hashlib.sha256(normalised_body.encode("utf-8")).hexdigest()


def shingles(words: Sequence[str], size: int = SHINGLE_SIZE) -> list[bytes]:
    """Word n-grams as bytes (the exact form; signatures use `ngram_hashes`); a short text is one shingle."""
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")] if words else []
    return [" ".join(words[i:i + size]).encode("utf-8") for i in range(len(words) - size + 1)]


def content_words(words: Iterable[str]) -> list[str]:
    """Distinct words that carry the story: no stopwords, longer than two characters, in first-seen order."""
    return list(dict.fromkeys(w for w in words if len(w) > 2 and w not in STOP_WORDS))


def word_hashes(words: Sequence[str]) -> np.ndarray:
    """A 64-bit hash per word (crc32, mixed), as uint64; words seen before come from a bounded cache."""
    cache = _WORD_CRC
    if len(cache) > _WORD_CACHE_SIZE:
        cache.clear()
    raw = np.fromiter((cache.get(w) or cache.setdefault(w, zlib.crc32(w.encode("utf-8"))) for w in words),
                      dtype=np.uint64, count=len(words))
    return _mix(raw + _GOLDEN)


def ngram_hashes(hashes: np.ndarray, size: int) -> np.ndarray:
    """64-bit hashes of every run of `size` consecutive word hashes; fewer words give one hash of them all."""
    size = min(size, len(hashes))
    if size == 0:
        return hashes[:0]
    count = len(hashes) - size + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(size):
        combined = _mix(combined * _GOLDEN ^ hashes[offset:offset + count])
    return combined


def minhash(token_hashes: np.ndarray) -> np.ndarray:
    """The NUM_PERM MinHash values (uint32) of a set of 64-bit token hashes; all ones for an empty set."""
    if len(token_hashes) == 0:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    return (_mix(token_hashes[np.newaxis, :] ^ _SALTS).min(axis=1) >> np.uint64(32)).astype(np.uint32)


def shingle_signature(words: Sequence[str]) -> np.ndarray:
    """MinHash of the word 5-shingles: near-duplicate text."""
    return minhash(ngram_hashes(word_hashes(words), SHINGLE_SIZE))


def content_signature(words: Sequence[str]) -> np.ndarray:
    """MinHash of the content words: the same story told in other words."""
    return minhash(word_hashes(content_words(words)))


def band_keys(kind: str, signature: np.ndarray, bands: int, rows: int) -> list[str]:
    """LSH band keys `"{kind}:{band_no}:{hash of the band's values}"`; equal keys make two articles candidates."""
    data = np.ascontiguousarray(signature, dtype=np.uint32).tobytes()
    width = rows * 4
    return [f"{kind}:{band_no}:{hashlib.blake2b(data[band_no * width:(band_no + 1) * width], digest_size=8).hexdigest()}"
            for band_no in range(bands)]


def all_band_keys(shingle_sig: np.ndarray, content_sig: np.ndarray) -> list[str]:
    """Every band key of an article: shingle bands first, then content bands."""
    return (band_keys("shingle", shingle_sig, SHINGLE_BANDS, SHINGLE_ROWS)
            + band_keys("content", content_sig, CONTENT_BANDS, CONTENT_ROWS))


def band_partition(band_key: str, partitions: int) -> int:
    """The index partition that owns a band key: the same on every worker, whatever the article's own key."""
    return int(band_key.rsplit(":", 1)[1], 16) % partitions


def pack(signature: np.ndarray) -> str:
    """A signature as text for records and tables: base64 of its little-endian uint32 values (684 characters)."""
    return base64.b64encode(np.ascontiguousarray(signature, dtype="<u4").tobytes()).decode("ascii")


def unpack(packed: str) -> np.ndarray:
    """The signature `pack` wrote."""
    return np.frombuffer(base64.b64decode(packed), dtype="<u4")


def estimated_jaccard(signature: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """Estimated Jaccard of one signature to each of `others`: the share of equal MinHash values."""
    if not others:
        return np.zeros(0)
    return (np.vstack(others) == signature).mean(axis=1)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    values = (values ^ (values >> np.uint64(30))) * _MIX_1
    values = (values ^ (values >> np.uint64(27))) * _MIX_2
    return values ^ (values >> np.uint64(31))
