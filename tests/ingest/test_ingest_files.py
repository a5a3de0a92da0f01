"""Reading files and folders into raw-topic messages."""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import orjson
import pytest

from agents.ingest.files import RawMessage, load_raw_articles, raw_messages
from streams.deadletter import BadInput
from streams.records import RawArticle


def fixed_clock() -> float:
    return 1_700_000_000.0


def read_all(*paths: Path) -> list[RawMessage]:
    return list(raw_messages(paths, now=fixed_clock))


def test_text_file_becomes_one_text_message(tmp_path: Path, seed_paths: list[Path], seed_texts: list[str]):
    [message] = read_all(seed_paths[0])
    assert message.key is None and message.origin == str(seed_paths[0])
    assert orjson.loads(message.value) == {"text": seed_texts[0], "origin": str(seed_paths[0]),
                                           "ingested_at": 1_700_000_000.0}


def test_non_utf8_text_falls_back_to_windows_1252(tmp_path: Path):
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\u00e9 \u201cquoted\u201d".encode("cp1252"))
    [message] = read_all(path)
    assert orjson.loads(message.value)["text"] == "Caf\u00e9 \u201cquoted\u201d"


def test_html_and_gzipped_html(tmp_path: Path):
    page = "<html><body><p>Hello.</p></body></html>"
    (tmp_path / "a.html").write_text(page, encoding="utf-8")
    with gzip.open(tmp_path / "b.html.gz", "wt", encoding="utf-8") as file:
        file.write(page)
    messages = read_all(tmp_path)
    assert [Path(m.origin).name for m in messages] == ["a.html", "b.html.gz"]
    assert [orjson.loads(m.value)["html"] for m in messages] == [page, page]


def test_json_object_and_list(tmp_path: Path):
    (tmp_path / "one.json").write_bytes(orjson.dumps({"id": 7, "title": "T", "body": "B"}))
    (tmp_path / "many.json").write_bytes(orjson.dumps([{"guid": "g1", "text": "x"}, {"text": "y"}, 3]))
    messages = read_all(tmp_path / "one.json", tmp_path / "many.json")
    assert [m.key for m in messages] == ["7", "g1", None, None]
    assert orjson.loads(messages[0].value) == {"id": 7, "title": "T", "body": "B", "origin": str(tmp_path / "one.json"),
                                               "ingested_at": 1_700_000_000.0}
    assert messages[2].origin == f"{tmp_path / 'many.json'}[1]"
    assert messages[3].value == b"3"  # not an object: passed on as it was, for the clean stage to refuse


def test_jsonl_lines_keep_their_line_number_and_bad_lines_their_bytes(tmp_path: Path):
    bad_json = b'{"id": "a", "text": '
    not_utf8 = b'{"id": "b", "text": "caf\xe9"}'
    lines = [orjson.dumps({"id": "first", "text": "one"}), b"", bad_json, not_utf8, orjson.dumps({"text": "two"})]
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    messages = read_all(path)
    assert [m.origin for m in messages] == [f"{path}:{n}" for n in (1, 3, 4, 5)]
    assert [m.key for m in messages] == ["first", None, None, None]
    assert messages[1].value == bad_json and messages[2].value == not_utf8
    assert orjson.loads(messages[3].value)["origin"] == f"{path}:5"


def test_folders_are_walked_recursively_in_sorted_order(tmp_path: Path):
    for name in ("b/2.txt", "a/z.txt", "a/sub/1.txt", "c.txt", ".hidden/x.bin", "a/.DS_Store"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("text", encoding="utf-8")
    names = [Path(m.origin).relative_to(tmp_path).as_posix() for m in read_all(tmp_path)]
    assert names == ["a/sub/1.txt", "a/z.txt", "b/2.txt", "c.txt"]


def test_a_folder_skips_its_readme_quietly_and_warns_of_other_unknown_files(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    for name in ("README.md", "story.txt", "notes.docx"):
        (tmp_path / name).write_text("text", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="agents.ingest.files"):
        names = [Path(m.origin).name for m in read_all(tmp_path)]
    assert names == ["story.txt"]
    assert [getattr(r, "path", None) for r in caplog.records] == [str(tmp_path / "notes.docx")]


def test_unknown_extension_is_an_error_naming_the_file(tmp_path: Path):
    path = tmp_path / "notes.docx"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"notes\.docx"):
        read_all(path)


def test_missing_path_is_an_error_naming_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl"):
        read_all(tmp_path / "nowhere.jsonl")


def test_load_raw_articles_parses_with_the_streaming_parser(tmp_path: Path):
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b'{"newid": 1, "title": "T", "body": "Text.", "date": "1987-02-26T15:01:01"}\nnot json\n')
    [(_, good), (bad_message, bad)] = list(load_raw_articles([path], max_bytes=10_000))
    assert isinstance(good, RawArticle)
    assert (good.id, good.title, good.text, good.origin) == ("1", "T", "Text.", f"{path}:1")
    assert isinstance(bad, BadInput) and bad.reason == "malformed_json"
    assert bad_message.value == b"not json"
