"""Where bytes enter: the raw topic's feed-style JSON objects and every other topic's records are checked here."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import faust
import orjson

from streams.deadletter import BadInput
from streams.records import RawArticle

RecordT = TypeVar("RecordT", bound=faust.Record)

# RawArticle field ← names seen in real feeds (news-please, RSS-to-JSON exports, CMS dumps), first match wins.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "article_id", "guid", "newid"),
    "title": ("title", "headline"),
    "text": ("text", "body", "maintext", "content"),
    "html": ("html", "raw_html"),
    "published": ("published", "date", "date_publish", "published_at", "pubDate"),
    "source": ("source", "source_domain", "outlet", "publisher"),
    "url": ("url", "link"),
    "language": ("language", "lang"),
    "dateline": ("dateline",),
    "origin": ("origin",),
    "ingested_at": ("ingested_at",),
}


def raw_from_mapping(obj: Mapping[str, Any], *, max_bytes: int) -> RawArticle:
    """A RawArticle from a feed's JSON object; `BadInput` names the field when a type is wrong or the body empty."""
    if not isinstance(obj, Mapping):
        raise BadInput("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    values: dict[str, Any] = {}
    for name, aliases in FIELD_ALIASES.items():
        key = next((a for a in aliases if obj.get(a) not in (None, "")), None)
        if key is not None:
            values[name] = _field_value(name, key, obj[key])
    if not (values.get("text") or values.get("html")):
        fields = ", ".join(FIELD_ALIASES["text"] + FIELD_ALIASES["html"])
        raise BadInput("empty_body", f"no article body: none of {fields} holds text")
    size = sum(len(v) for v in values.values() if isinstance(v, str))
    if size > max_bytes:
        raise BadInput("too_large", f"article of {size} characters exceeds the {max_bytes} limit")
    return RawArticle(**values)


def parse_raw(value: bytes | None, *, max_bytes: int) -> RawArticle:
    """Decode one raw-topic message value; every way it can be wrong raises `BadInput` with a clear reason."""
    if value is None or not value.strip():
        raise BadInput("empty_message", "the message value is empty")
    if len(value) > max_bytes:
        raise BadInput("too_large", f"message of {len(value)} bytes exceeds the {max_bytes} byte limit")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("not_utf8", f"message is not UTF-8: byte {exc.start} cannot be decoded") from None
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadInput("malformed_json", f"message is not valid JSON: {exc}") from None
    return raw_from_mapping(obj, max_bytes=max_bytes)


def _field_value(name: str, key: str, value: Any) -> Any:
    if name == "ingested_at":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput("wrong_type", f"field {key!r} must be a number of unix seconds")
        return float(value)
    if name == "published" and isinstance(value, (datetime, date)):
        return value.isoformat()
    if name in ("id", "published") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if name == "source" and isinstance(value, Mapping):  # {"name": "Reuters", …} as some APIs give it
        value = value.get("name") or value.get("title")
    if not isinstance(value, str):
        raise BadInput("wrong_type", f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def decode_record(value: bytes | None, record_type: type[RecordT] | tuple[type[RecordT], ...]) -> RecordT:
    """Decode a record sent by an upstream stage; `BadInput` when the bytes are not that record.

    Given several record types (a topic that carries more than one), the record's Faust namespace picks the type.
    """
    if not value:
        raise BadInput("empty_message", "the message value is empty")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadInput("malformed_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadInput("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    if isinstance(record_type, tuple):
        record_type = _by_namespace(obj, record_type)
    try:
        return record_type.from_data(obj)
    except (TypeError, ValueError, KeyError) as exc:
        raise BadInput("invalid_record", f"not a valid {record_type.__name__}: {exc}") from None


def _by_namespace(obj: dict[str, Any], record_types: tuple[type[RecordT], ...]) -> type[RecordT]:
    """The one of `record_types` whose Faust namespace the serialised record names."""
    namespace = (obj.get("__faust") or {}).get("ns") if isinstance(obj.get("__faust"), dict) else None
    for record_type in record_types:
        if record_type._options.namespace == namespace:
            return record_type
    names = ", ".join(t.__name__ for t in record_types)
    raise BadInput("invalid_record", f"expected one of {names}, got a record of namespace {namespace!r}")
