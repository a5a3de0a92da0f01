"""How wirewatch writes values: the orjson codec every record is serialised with (registered with Faust as
`orjson`), and the packed text form of hash arrays in records and tables."""
from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from faust.serializers import codecs

HASH64 = "<u8"  # little-endian uint64: 3-gram and word hashes
HASH32 = "<u4"  # little-endian uint32: dedup's shingle sketches


def _default(obj: Any) -> Any:
    # Faust records nest other records; `__json__` gives their plain representation.
    if hasattr(obj, "__json__"):
        return obj.__json__()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    """JSON bytes for records, dicts and lists of them (datetimes as ISO 8601)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)


class OrjsonCodec(codecs.Codec):
    """Faust codec backed by orjson: several times faster than the stdlib json codec."""

    def _dumps(self, obj: Any) -> bytes:
        return dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register("orjson", OrjsonCodec())


def pack_hashes(hashes: Sequence[int] | np.ndarray, dtype: str = HASH64) -> str:
    """Hashes as text for records and tables: base64 of their bytes as `dtype` (a third of their JSON size)."""
    return base64.b64encode(np.ascontiguousarray(hashes, dtype=dtype).tobytes()).decode("ascii")


def unpack_hashes(packed: str, dtype: str = HASH64) -> np.ndarray:
    """The hashes `pack_hashes` wrote with the same `dtype` (a read-only array over the decoded bytes)."""
    return np.frombuffer(base64.b64decode(packed), dtype=dtype)
