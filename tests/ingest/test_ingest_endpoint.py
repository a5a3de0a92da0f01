"""`POST /ingest` through the real web server of a clean worker process on the embedded broker."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.ingest.endpoint import (
    Rejected,
    bearer_token_matches,
    parse_body,
    prepare_articles,
    prepare_in_turns,
    send_all,
)
from streams.settings import Settings
from tests.conftest import wait_for
from tests.kafka_io import read_to_end, read_topic_sync

pytestmark = pytest.mark.integration

TOKEN = "t0k"
MAX_BYTES = 4000
MAX_ARTICLES = 3
# The clean stage's ids of `body_text` articles, pinned: the first 16 hex digits of sha256 of the source, a newline
# and the text lower-cased with every run of other characters than a-z and 0-9 made one space ("\nacme said on
# tuesday it would …"). A change here changes every id a client was given.
ACME_ID = "b9c41c33fb8fee09"  # no source
GLOBEX_WIRE_ID = "055a69c77fab801e"  # source "Wire"


def body_text(subject: str) -> str:
    return (f"{subject} said on Tuesday it would open a new plant in the north of the country next year.\n\n"
            f"The company expects the plant to employ about 400 people once it runs at full capacity.\n\n"
            f"Shares of {subject} rose 2% in early trading after the announcement.")


def post(port: int, body: bytes, *, content_type: str = "application/json", token: str | None = TOKEN,
         key: str | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON body) of a POST to the worker's /ingest, with `key` as its `Idempotency-Key`."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
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
        assert process.poll() is None, Path(process.log_path).read_text(encoding="utf-8")[-3000:]
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
    assert answer["ids"] == ["given-1", GLOBEX_WIRE_ID]
    cleaned = read_topic_sync(pipeline_settings, "clean", 2)
    assert [a["id"] for a in cleaned] == answer["ids"]
    assert [a["title"] for a in cleaned] == ["Acme opens a plant", "Globex opens a plant"]
    assert {a["origin"] for a in cleaned} == {f"http {answer['request_id']}"}  # what a dead letter would name


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
    status, _, _accepted = post(clean_port, orjson.dumps({"title": "Marker", "text": body_text("Initech")}))
    assert status == 202
    # Only the later, valid request reached the raw topic: nothing of the refused one was sent. A 202 comes once the
    # broker has the articles, so the topic as it is now holds all there is.
    assert [r["title"] for r in read_to_end(pipeline_settings, "raw")] == ["Marker"]


def test_more_articles_than_the_limit_are_refused_and_none_sent(clean_port, pipeline_settings) -> None:
    too_many = [{"title": f"Item {n}", "text": body_text(f"Company {n}")} for n in range(MAX_ARTICLES + 1)]

    for body, content_type in [(json_lines(MAX_ARTICLES + 1), "application/x-ndjson"),
                               (orjson.dumps(too_many), "application/json")]:
        status, _, answer = post(clean_port, body, content_type=content_type)
        assert status == 413, answer
        assert answer["limit"] == MAX_ARTICLES and answer["setting"] == "WIREWATCH_INGEST_MAX_ARTICLES"
        assert "WIREWATCH_INGEST_MAX_ARTICLES" in answer["error"]
    assert post(clean_port, json_lines(MAX_ARTICLES), content_type="application/x-ndjson")[0] == 202  # the marker
    assert len(read_to_end(pipeline_settings, "raw")) == MAX_ARTICLES


def test_a_retry_with_the_same_idempotency_key_is_answered_again_and_not_sent_again(clean_port,
                                                                                   pipeline_settings) -> None:
    first = orjson.dumps({"title": "Acme opens a plant", "text": body_text("Acme")})

    status, headers, answer = post(clean_port, first, key="order-17")
    assert status == 202 and "Idempotent-Replayed" not in headers
    again_status, again_headers, again = post(clean_port, first, key="order-17")
    assert (again_status, again) == (status, answer)
    assert again_headers["Idempotent-Replayed"] == "true"
    other = orjson.dumps({"title": "Globex opens a plant", "text": body_text("Globex")})
    status, _, refused = post(clean_port, other, key="order-17")
    assert status == 422 and "Idempotency-Key" in refused["error"]
    assert post(clean_port, other, key="k" * 256)[0] == 400
    assert post(clean_port, orjson.dumps({"title": "Marker", "text": body_text("Initech")}), key="order-18")[0] == 202
    assert sorted(r["title"] for r in read_to_end(pipeline_settings, "raw")) == ["Acme opens a plant", "Marker"]


@pytest.fixture
def roomy_port(pipeline_settings: Settings, spawn_worker: Any) -> int:
    """A clean worker that takes 5,000 articles per request (the default byte limit)."""
    worker = spawn_worker("clean", pipeline_settings, WIREWATCH_INGEST_TOKEN=TOKEN,
                          WIREWATCH_INGEST_MAX_ARTICLES="5000")
    return wait_for_web(worker)


def test_the_worker_answers_metrics_and_retries_while_a_large_request_is_cleaned(roomy_port) -> None:
    body = json_lines(5000)  # the clean core takes 2 to 4 s over them
    answers: list[tuple[int, dict[str, str], dict[str, Any]]] = []
    large = threading.Thread(target=lambda: answers.append(
        post(roomy_port, body, content_type="application/x-ndjson", key="big")))
    metrics_seconds: list[float] = []
    stop = threading.Event()

    def probe_metrics() -> None:
        while not stop.is_set():
            start = time.monotonic()
            urllib.request.urlopen(f"http://127.0.0.1:{roomy_port}/metrics", timeout=30).read()
            metrics_seconds.append(time.monotonic() - start)
            time.sleep(0.05)

    probe = threading.Thread(target=probe_metrics)
    # The first article a worker cleans loads the language model and more (about 0.5 s, once): not measured here.
    assert post(roomy_port, orjson.dumps({"title": "Warm-up", "text": body_text("Acme")}))[0] == 202
    large.start()
    probe.start()
    time.sleep(0.3)
    in_flight = post(roomy_port, body, content_type="application/x-ndjson", key="big")
    large.join()
    stop.set()
    probe.join()

    assert answers[0][0] == 202 and answers[0][2]["accepted"] == 5000
    assert len(metrics_seconds) >= 5, "the request was over too soon to tell"
    # Cleaning the 5,000 articles on the event loop in one go held /metrics that long.
    assert max(metrics_seconds) < 1.0, metrics_seconds
    assert in_flight[0] == 409 and "in flight" in in_flight[2]["error"]


def test_a_broker_that_does_not_take_the_articles_gets_a_503_in_time(pipeline_settings, spawn_worker,
                                                                      embedded_broker) -> None:
    worker = spawn_worker("clean", pipeline_settings, WIREWATCH_INGEST_TOKEN=TOKEN, WIREWATCH_INGEST_TIMEOUT="1")
    port = wait_for_web(worker)
    # Once a request gets through in time, the worker's producer is connected and knows the raw topic (the first
    # one may not: the worker's first cleaning and first send take their time).
    wait_for(lambda: post(port, json_lines(1), content_type="application/x-ndjson")[0] == 202, 60,
             "a request answered within the 1 s timeout")
    pid = embedded_broker.pid
    os.kill(pid, signal.SIGSTOP)
    # Resumed after 4 s whatever happens: well within the consumer group's session timeout (6 s).
    resume = threading.Timer(4.0, os.kill, (pid, signal.SIGCONT))
    resume.start()
    try:
        start = time.monotonic()
        status, _, answer = post(port, json_lines(2), content_type="application/x-ndjson", key="slow")
        took = time.monotonic() - start
    finally:
        resume.join()

    assert status == 503 and took < 3.0, (status, took)
    assert "WIREWATCH_INGEST_TIMEOUT" in answer["error"] and "retry" in answer["error"]


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
    obj = {"title": "Acme opens a plant", "text": body_text("Acme")}
    [prepared] = prepare_articles(parse_body(orjson.dumps(obj), "application/json", max_articles=1), max_bytes=900_000,
                                  now=5.0)
    assert prepared.ids == [ACME_ID]
    assert orjson.loads(prepared.value) == {**obj, "origin": "http", "ingested_at": 5.0}


def test_json_lines_over_the_limit_are_refused_before_the_rest_is_parsed() -> None:
    with pytest.raises(Rejected) as refused:
        parse_body(json_lines(3) + b"not JSON, never read\n", "application/x-ndjson", max_articles=3)
    assert refused.value.status == 413
    assert refused.value.details["limit"] == 3
    assert refused.value.details["setting"] == "WIREWATCH_INGEST_MAX_ARTICLES"
    assert len(parse_body(b"\n" + json_lines(3) + b"\n\n", "application/x-ndjson", max_articles=3)) == 3


def test_cleaning_lets_the_event_loop_run_between_turns() -> None:
    items = parse_body(json_lines(50), "application/x-ndjson", max_articles=50)
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def scenario() -> list[Any]:
        other = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        started = turns
        prepared = await prepare_in_turns(items, max_bytes=900_000, now=1.0)
        other.cancel()
        return [prepared, turns - started]

    prepared, turns_meanwhile = asyncio.run(scenario())
    assert [p.ids for p in prepared] == [p.ids for p in prepare_articles(items, max_bytes=900_000, now=1.0)]
    assert turns_meanwhile >= 5


def test_a_request_out_of_time_stops_waiting_but_leaves_its_deliveries_be() -> None:
    class SilentBroker:
        """A topic whose deliveries never complete."""

        def __init__(self) -> None:
            self.deliveries: list[asyncio.Future[None]] = []

        async def send(self, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
            assert headers == [("wirewatch-origin", b"http 1f2e")]
            self.deliveries.append(asyncio.get_running_loop().create_future())
            return self.deliveries[-1]

    async def scenario() -> SilentBroker:
        topic = SilentBroker()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await send_all(topic, b"k", [b"1", b"2"], "http 1f2e")
        return topic

    topic = asyncio.run(scenario())
    assert len(topic.deliveries) == 2
    # Cancelled deliveries would break the producer's callbacks once the broker answers.
    assert not any(delivery.cancelled() for delivery in topic.deliveries)


def test_a_resend_gets_the_same_ids() -> None:
    """Ids are a given id or a hash of source and text: the ingest time, new in every request, is not part of them."""
    body = orjson.dumps([{"id": "given-1", "text": body_text("Acme")}, {"text": body_text("Globex"), "source": "W"}])
    items = parse_body(body, "application/json", max_articles=2)

    first = prepare_articles(items, max_bytes=900_000, now=1.0)
    again = prepare_articles(items, max_bytes=900_000, now=2.0)

    assert [p.ids for p in first] == [p.ids for p in again] == [["given-1"], ["54407e8c6553270b"]]
    assert first[0].value != again[0].value  # but the raw values differ: dedup judges a resend, as a duplicate


def test_a_news_page_over_the_message_limit_is_made_to_fit_not_refused(largest_pages: list[str]) -> None:
    page = largest_pages[0]  # CNN, 1.49 MB: refused before, its body is 4.8 K characters
    items = parse_body(orjson.dumps([{"html": page, "url": "https://edition.cnn.com/x"}]), "application/json",
                       max_articles=1)
    [prepared] = prepare_articles(items, max_bytes=900_000, now=1.0, origin="http 1f2e")
    [in_turns] = asyncio.run(prepare_in_turns(items, max_bytes=900_000, now=1.0, origin="http 1f2e"))
    assert prepared == in_turns and len(prepared.value) <= 900_000 and len(prepared.ids) == 1
    assert orjson.loads(prepared.value)["origin"] == "http 1f2e"
