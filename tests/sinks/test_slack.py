"""The Slack sink against a real aiohttp server on 127.0.0.1 that answers from a script, like a Slack webhook."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from agents.sinks.retry import RetryPolicy
from agents.sinks.slack import SlackSink, slack_message
from agents.sinks.webhook import SIGNATURE_HEADER
from streams.settings import Settings
from tests.sink_fixtures import Receiver, Sleeps, alerts_counted, full_alert, serving

TOKEN_PATH = "/services/T0001/B0002/xoxsecret"  # a Slack webhook URL's path is its credential


@pytest.fixture
async def slack() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    async with serving(hook, TOKEN_PATH) as url:
        yield hook, url


def sink(url: str, sleeps: Sleeps | None = None, attempts: int = 3) -> SlackSink:
    return SlackSink(url, RetryPolicy(attempts, backoff_base=0.01, sleep=sleeps or Sleeps()))


def all_text(message: dict[str, Any]) -> str:
    """Every mrkdwn string of a Slack message, in order: what a reader sees."""
    texts = [message["text"]]
    for block in message["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [part["text"] for part in block.get("fields", []) + block.get("elements", [])]
    return "\n".join(texts)


async def test_the_post_is_a_slack_message_with_an_idempotency_key_and_no_signature(slack) -> None:
    hook, url = slack
    alert = full_alert()
    async with sink(url) as slack_sink:
        result = await slack_sink.deliver(alert)
    assert (result.delivered, result.attempts) == (True, 1)
    [(headers, body)] = hook.requests
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == alert.idempotency_key
    assert SIGNATURE_HEADER not in headers
    message = orjson.loads(body)
    assert message["text"] == "[wirewatch] korea-summit: Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend"
    shown = all_text(message)
    assert "*Kim Jong Un or North Korea in the news*" in shown
    assert "new development · rule `korea-summit`" in shown
    # The title links to the article (mrkdwn escapes the query's & as &amp;), the source under it.
    assert ("*<https://www.bloomberg.com/news/articles/2019-06-29/trump-kim?srnd=politics&amp;utm=x|"
            "Trump Invites Kim Jong Un to Meet Him at the DMZ This Weekend>*\nBloomberg") in shown
    assert "*Entities*\nKim Jong Un, North Korea" in shown and "*Keywords*\nsummit, DMZ" in shown
    # Three of the five new sentences, quoted, and how many more there are.
    assert "> Trump said he would be comfortable crossing into North Korea." in shown
    assert "> \"We'll see,\" Trump said of the offer." in shown
    assert "The meeting would be their third" not in shown and "_(+2 more)_" in shown
    assert "· <https://www.bloomberg.com/news/articles/2019-06-29/trump-kim-v1|earlier 1>" in shown
    assert "story `story-dmz` · article `bloomberg-v2`" in shown


async def test_a_server_error_is_retried_with_the_same_key_until_it_succeeds(slack) -> None:
    hook, url = slack
    hook.script = [(500, {}), (503, {}), (200, {})]
    alert = full_alert()
    before = alerts_counted("korea-summit", "slack", "delivered")
    async with sink(url) as slack_sink:
        result = await slack_sink.deliver(alert)
    assert (result.delivered, result.attempts) == (True, 3)
    assert {headers["Idempotency-Key"] for headers, _ in hook.requests} == {alert.idempotency_key}
    assert len({body for _, body in hook.requests}) == 1  # the same message every time
    assert alerts_counted("korea-summit", "slack", "delivered") == before + 1


async def test_a_rate_limit_waits_as_long_as_slack_asks(slack) -> None:
    hook, url = slack
    hook.script = [(429, {"Retry-After": "7"}), (200, {})]
    sleeps = Sleeps()
    async with sink(url, sleeps) as slack_sink:
        assert (await slack_sink.deliver(full_alert())).delivered
    assert sleeps.delays == [7.0]


@pytest.mark.parametrize("status", [400, 403, 404, 410])  # invalid_payload, invalid_token, no_service, archived
async def test_a_refusal_is_final_and_counted(slack, status: int) -> None:
    hook, url = slack
    hook.script = [(status, {}), (200, {})]
    before = alerts_counted("korea-summit", "slack", "rejected")
    async with sink(url) as slack_sink:
        result = await slack_sink.deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason, result.status) == (False, 1, "rejected", status)
    assert len(hook.requests) == 1
    assert alerts_counted("korea-summit", "slack", "rejected") == before + 1


async def test_giving_up_is_the_last_failure(slack) -> None:
    hook, url = slack
    hook.script = [(502, {})]
    async with sink(url, attempts=2) as slack_sink:
        result = await slack_sink.deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason) == (False, 2, "http_502")


def test_article_text_cannot_ping_a_channel_or_forge_a_link() -> None:
    alert = full_alert(title="<!channel> Markets & <https://evil.example|your bank>",
                       url="https://example.com/a|b><c d", source="Wire\nService", matched_keywords=["a<b"],
                       story_id="s`1")
    message = slack_message(alert)
    shown = all_text(message)
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt; Markets &amp; &lt;https://evil.example|your bank&gt;" in shown
    assert "<https://example.com/a%7Cb%3E%3Cc%20d|" in shown  # the link ends where wirewatch ends it
    assert "Wire Service" in shown and "a&lt;b" in shown and "story `s'1`" in shown


def test_a_link_only_for_http_urls_and_long_text_is_cut() -> None:
    message = slack_message(full_alert(url="javascript:alert(1)", title="T" * 5000, new_sentences=["S" * 5000]))
    shown = all_text(message)
    assert "javascript:" not in shown and "*" + "T" * 199 + "…*" in shown
    assert all(len(block["text"]["text"]) <= 3000 for block in message["blocks"] if "text" in block)
    new_story = slack_message(full_alert(trigger="new_story", new_sentences=[], matched_keywords=[]))
    assert "*New*" not in all_text(new_story) and "Keywords" not in all_text(new_story)


async def test_logs_and_repr_never_show_the_url_path(slack, caplog: pytest.LogCaptureFixture) -> None:
    hook, url = slack
    hook.script = [(503, {})]
    caplog.set_level(logging.DEBUG)
    async with sink(url, attempts=2) as slack_sink:
        assert not (await slack_sink.deliver(full_alert())).delivered
        assert "xoxsecret" not in repr(slack_sink)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp"))
    assert "slack http://127.0.0.1:" in logged and "not delivered" in logged
    assert "xoxsecret" not in logged and "/services/" not in logged
    settings = Settings(slack_webhook_url=url)
    assert "xoxsecret" not in str(settings.redacted())


def test_the_url_comes_from_the_settings_and_must_be_http() -> None:
    slack_sink = SlackSink.from_settings(Settings(slack_webhook_url="https://hooks.example/x", webhook_retries=2,
                                                  webhook_timeout=1.5))
    assert (slack_sink.policy.attempts, slack_sink.timeout.total, slack_sink.name) == (2, 1.5, "slack")
    with pytest.raises(ValueError, match="SLACK_WEBHOOK_URL must be an http") as error:
        Settings(slack_webhook_url="hooks.example/xoxsecret")
    assert "xoxsecret" not in str(error.value)
