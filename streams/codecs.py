"""The orjson codec every wirewatch record is serialised with, registered with Faust as `orjson`."""
from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs


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
