"""Files and folders → raw-topic messages: one JSON object per article, or the original bytes when a line is broken."""
from __future__ import annotations

import gzip
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.deadletter import BadInput
from streams.raw import FIELD_ALIASES, parse_raw
from streams.records import RawArticle

ACCEPTED_SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl")
# Text files that are not UTF-8 are usually Windows-1252; Latin-1 decodes any byte, so nothing is refused.
TEXT_ENCODINGS = ("utf-8", "cp1252", "latin-1")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawMessage:
    """One raw-topic message: key (the article's id, if it had one), value bytes, and where it was read."""

    key: str | None
    value: bytes
    origin: str


def raw_messages(paths: Iterable[Path], *, now: Callable[[], float] = time.time) -> Iterator[RawMessage]:
    """Every article under `paths` (files, or folders walked recursively in sorted order) as a raw-topic message."""
    for path in paths:
        for file in _files_under(Path(path)):
            yield from _file_messages(file, now)


def load_raw_articles(paths: Iterable[Path], *, max_bytes: int,
                      now: Callable[[], float] = time.time) -> Iterator[tuple[RawMessage, RawArticle | BadInput]]:
    """Each message under `paths` with its parsed article, or the `BadInput` the clean stage would dead-letter."""
    for message in raw_messages(paths, now=now):
        try:
            yield message, parse_raw(message.value, max_bytes=max_bytes)
        except BadInput as error:
            yield message, error


def file_format(path: Path) -> str:
    """The accepted suffix of `path` (".gz" looked through); a ValueError naming the file otherwise."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in ACCEPTED_SUFFIXES:
        accepted = ", ".join(ACCEPTED_SUFFIXES)
        raise ValueError(f"cannot ingest {path}: unknown file type (accepted: {accepted}, optionally .gz)")
    return suffixes[-1]


def _files_under(path: Path) -> Iterator[Path]:
    if not path.exists():
        raise FileNotFoundError(f"cannot ingest {path}: no such file or folder")
    if not path.is_dir():
        yield path
        return
    # Hidden files (.DS_Store, editor swap files) are not articles, nor is a README describing the folder (the seeds
    # have one): both are skipped quietly. Other files of unknown type in a folder are skipped with a warning; a
    # file named explicitly must be a known type.
    files = (p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                    p.relative_to(path).parts))
    for file in sorted(files, key=lambda p: p.relative_to(path).parts):
        try:
            file_format(file)
        except ValueError as error:
            if not file.name.upper().startswith("README"):
                log.warning("skipped file of unknown type", extra={"path": str(file), "error": str(error)})
            continue
        yield file


def _file_messages(path: Path, now: Callable[[], float]) -> Iterator[RawMessage]:
    kind = file_format(path)
    origin = str(path)
    if kind == ".jsonl":
        with _open(path) as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield _json_message(line.rstrip(b"\r\n"), f"{origin}:{number}", now)
        return
    with _open(path) as file:
        content = file.read()
    if kind == ".json":
        yield from _json_file_messages(content, origin, now)
    else:
        field = "text" if kind == ".txt" else "html"
        yield _message({field: _decode_text(content)}, origin, now)


def _json_file_messages(content: bytes, origin: str, now: Callable[[], float]) -> Iterator[RawMessage]:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        yield RawMessage(key=None, value=content, origin=origin)  # the clean stage dead-letters it with the reason
        return
    if not isinstance(document, list):
        yield _object_message(document, content, origin, now)
        return
    for index, item in enumerate(document):
        yield _object_message(item, orjson.dumps(item), f"{origin}[{index}]", now)


def _json_message(line: bytes, origin: str, now: Callable[[], float]) -> RawMessage:
    try:
        line.decode("utf-8")
        obj = orjson.loads(line)
    except (UnicodeDecodeError, orjson.JSONDecodeError):
        return RawMessage(key=None, value=line, origin=origin)  # original bytes: the clean stage says why
    return _object_message(obj, line, origin, now)


def _object_message(obj: Any, original: bytes, origin: str, now: Callable[[], float]) -> RawMessage:
    if not isinstance(obj, dict):
        return RawMessage(key=None, value=original, origin=origin)
    return _message(obj, origin, now)


def _message(obj: dict[str, Any], origin: str, now: Callable[[], float]) -> RawMessage:
    article_id = next((obj[a] for a in FIELD_ALIASES["id"] if obj.get(a) not in (None, "")), None)
    value = orjson.dumps({**obj, "origin": origin, "ingested_at": now()})
    return RawMessage(key=None if article_id is None else str(article_id), value=value, origin=origin)


def _decode_text(content: bytes) -> str:
    for encoding in TEXT_ENCODINGS:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # unreachable: the loop always returns


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else path.open("rb")
