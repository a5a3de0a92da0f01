"""`POST /ingest` through the real web server of a clean worker process on the embedded broker."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from agents.ingest.endpoint import bearer_token_matches, parse_body, prepare_articles, Rejected
from streams.settings import Settings
from tests.kafka_io import read_topic_sync

pytestmark = pytest.mark.integration

TOKEN = "t0k"
MAX_BYTES = 4000
MAX_ARTICLES = 3


def body_text(subject: str) -> str:
    return (f"{subject} said on Tuesday it would open a new plant in the north of the country next year.\n\n"
            f"The company expects the plant to employ about 400 people once it runs at full capacity.\n\n"
            f"Shares of {subject} rose 2% in early trading after the announcement.")


def post(port: int, body: bytes, *, content_type: str = "application/json", token: str | None = TOKEN
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON body) of a POST to the worker's /ingest."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/ingest", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, dict(error.headers), orjson.loads(payload) if payload else {}


def wait_for_web(process: Any, timeout: float = 60.0) -> int:
    """The worker's web port, once `/metrics` answers there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, open(process.log_path, encoding="utf-8").read()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{process.web_port}/metrics", timeout=2):
                return process.web_port
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the clean worker's web server did not answer within {timeout} s")


def json_lines(count: int) -> bytes:
    """`count` distinct articles as JSON lines."""
    return b"".join(orjson.dumps({"title": f"Company {n} opens a plant", "text": body_text(f"Company {n}")}) + b"\n"
                    for n in range(count))


@pytest.fixture
def clean_port(pipeline_settings: Settings, spawn_worker: Any) -> int:
    worker = spawn_worker("clean", pipeline_settings, WIREWATCH_INGEST_TOKEN=TOKEN,
                          WIREWATCH_INGEST_MAX_BYTES=str(MAX_BYTES), WIREWATCH_INGEST_MAX_ARTICLES=str(MAX_ARTICLES))
    return wait_for_web(worker)


def test_accepted_articles_reach_the_clean_topic_with_the_ids_returned(clean_port, pipeline_settings) -> None:
    articles = [{"id": "given-1", "headline": "Acme opens a plant", "body": body_text("Acme")},
                {"title": "Globex opens a plant", "text": body_text("Globex"), "source": "Wire"}]

    status, _, answer = post(clean_port, orjson.dumps(articles))

    assert status == 202
    assert answer["accepted"] == 2
    assert answer["ids"][0] == "given-1" and len(answer["ids"]) == 2
    cleaned = read_topic_sync(pipeline_settings, "clean", 2)
    assert [a["id"] for a in cleaned] == answer["ids"]
    assert [a["title"] for a in cleaned] == ["Acme opens a plant", "Globex opens a plant"]
    assert {a["origin"] for a in cleaned} == {"http"}


def test_requests_without_the_token_or_of_the_wrong_type_or_size_are_refused(clean_port) -> None:
    one = orjson.dumps({"text": body_text("Acme")})

    for token in (None, "wrong", "", "\xff\xfe"):  # the last is sent as bytes that are not UTF-8
        status, headers, answer = post(clean_port, one, token=token)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), token
        assert "Authorization" in answer["error"]
    assert post(clean_port, one, content_type="text/plain")[0] == 415
    status, _, answer = post(clean_port, b"[" + b",".join([one] * 20) + b"]")
    assert status == 413 and answer["limit"] == MAX_BYTES and answer["setting"] == "WIREWATCH_INGEST_MAX_BYTES"
    status, _, answer = post(clean_port, b'{"text": "unfinished')
    assert status == 400 and answer["reason"] == "malformed_json"


def test_one_bad_line_refuses_the_whole_request(clean_port, pipeline_settings) -> None:
    lines = [orjson.dumps({"title": "First", "text": body_text("Acme")}),
             orjson.dumps({"title": "no body here"}),
             orjson.dumps({"title": "Third", "text": body_text("Globex")})]

    status, _, answer = post(clean_port, b"\n".join(lines) + b"\n", content_type="application/x-ndjson")

    assert status == 400
    assert answer["line"] == 2 and answer["reason"] == "empty_body"
    assert answer["error"].startswith("line 2: no article body")
    status, _, accepted = post(clean_port, orjson.dumps({"title": "Marker", "text": body_text("Initech")}))
    assert status == 202
    # Only the later, valid request reached the raw topic: nothing of the refused one was sent.
    raw = read_topic_sync(pipeline_settings, "raw", 2, timeout=5)
    assert [r["title"] for r in raw] == ["Marker"]


def test_more_articles_than_the_limit_are_refused_and_none_sent(clean_port, pipeline_settings) -> None:
    too_many = [{"title": f"Item {n}", "text": body_text(f"Company {n}")} for n in range(MAX_ARTICLES + 1)]

    for body, content_type in [(json_lines(MAX_ARTICLES + 1), "application/x-ndjson"),
                               (orjson.dumps(too_many), "application/json")]:
        status, _, answer = post(clean_port, body, content_type=content_type)
        assert status == 413, answer
        assert answer["limit"] == MAX_ARTICLES and answer["setting"] == "WIREWATCH_INGEST_MAX_ARTICLES"
        assert "WIREWATCH_INGEST_MAX_ARTICLES" in answer["error"]
    assert post(clean_port, json_lines(MAX_ARTICLES), content_type="application/x-ndjson")[0] == 202
    raw = read_topic_sync(pipeline_settings, "raw", MAX_ARTICLES + 1, timeout=5)
    assert len(raw) == MAX_ARTICLES


# ---- the pure parts, without a worker ----


def test_bearer_token_is_compared_whole() -> None:
    assert bearer_token_matches("Bearer t0k", "t0k")
    assert bearer_token_matches("bearer t0k", "t0k")
    assert not bearer_token_matches("Bearer t0", "t0k")
    assert not bearer_token_matches("Basic t0k", "t0k")
    assert not bearer_token_matches(None, "t0k")
    assert not bearer_token_matches("Bearer \udcff\udcfe", "t0k")  # how aiohttp hands over bytes that are not UTF-8


def test_json_bodies_name_the_item_that_fails() -> None:
    items = parse_body(orjson.dumps([{"text": body_text("Acme")}, ["not", "an", "object"]]), "application/json",
                       max_articles=10)
    with pytest.raises(Rejected) as refused:
        prepare_articles(items, max_bytes=900_000, now=1.0)
    assert refused.value.status == 400
    assert refused.value.details == {"reason": "not_an_object", "index": 1}
    assert str(refused.value).startswith("item 1: expected a JSON object")


def test_ids_are_the_clean_stage_ids() -> None:
    from agents.clean.core import clean_article
    from streams.raw import raw_from_mapping

    obj = {"title": "Acme opens a plant", "text": body_text("Acme")}
    [prepared] = prepare_articles(parse_body(orjson.dumps(obj), "application/json", max_articles=1), max_bytes=900_000,
                                  now=5.0)
    assert prepared.ids == [a.id for a in clean_article(raw_from_mapping(obj, max_bytes=900_000))]
    assert orjson.loads(prepared.value) == {**obj, "origin": "http", "ingested_at": 5.0}


def test_json_lines_over_the_limit_are_refused_before_the_rest_is_parsed() -> None:
    with pytest.raises(Rejected) as refused:
        parse_body(json_lines(3) + b"not JSON, never read\n", "application/x-ndjson", max_articles=3)
    assert refused.value.status == 413
    assert refused.value.details["limit"] == 3
    assert refused.value.details["setting"] == "WIREWATCH_INGEST_MAX_ARTICLES"
    assert len(parse_body(b"\n" + json_lines(3) + b"\n\n", "application/x-ndjson", max_articles=3)) == 3
