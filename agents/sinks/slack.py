"""Deliver alerts to a Slack-compatible incoming webhook: a `text` fallback and mrkdwn blocks that explain the alert.

Incoming webhooks take no signature (the URL is the credential, so it never reaches a log); the request still
carries the `Idempotency-Key` header, and retries follow the webhook sink's policy (Slack answers 429 with a
Retry-After when rate-limited; 4xx such as `invalid_token` or `channel_is_archived` are final).
"""
from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from agents.sinks.http import JsonPostSink
from agents.sinks.retry import RetryPolicy
from agents.sinks.text import shorten, trigger_words, visible
from streams.records import Alert
from streams.settings import Settings

MAX_SENTENCES = 3
SENTENCE_WIDTH = 300
TITLE_WIDTH = 200
MAX_NAMES = 10          # entities or keywords listed; the rest are counted
NAME_WIDTH = 80
DESCRIPTION_WIDTH = 300


def slack_message(alert: Alert) -> dict[str, Any]:
    """The webhook payload for `alert`: `text` for notifications, `blocks` for the message itself.

    Article text is untrusted: `&`, `<` and `>` are escaped, so a title cannot ping `<!channel>` or forge a link,
    and every piece is shortened well inside Slack's block limits (3,000 characters a section, 2,000 a field).
    """
    title = _escape(shorten(alert.title, TITLE_WIDTH)) or "(untitled)"
    source = f"\n{_escape(shorten(alert.source, NAME_WIDTH))}" if alert.source else ""
    blocks: list[dict[str, Any]] = [
        _section(f"*{_escape(shorten(alert.description, DESCRIPTION_WIDTH))}*\n"
                 f"{trigger_words(alert.trigger)} · rule {_code(alert.rule_id)}"),
        _section(f"*{_link(title, alert.url)}*{source}"),
    ]
    fields = [_mrkdwn(f"*{label}*\n{_names(names)}") for label, names in
              (("Entities", alert.matched_entities), ("Keywords", alert.matched_keywords)) if names]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if alert.detail:
        blocks.append(_section(f"*Why now*\n{_escape(shorten(alert.detail, SENTENCE_WIDTH))}"))
    if alert.new_sentences:
        quoted = [f"> {_escape(shorten(s, SENTENCE_WIDTH))}" for s in alert.new_sentences[:MAX_SENTENCES]]
        more = len(alert.new_sentences) - MAX_SENTENCES
        blocks.append(_section("*New*\n" + "\n".join(quoted) + (f"\n_(+{more} more)_" if more > 0 else "")))
    earlier = [_link(f"earlier {n}", url) for n, url in enumerate(alert.story_links[:MAX_SENTENCES], start=1)]
    blocks.append({"type": "context", "elements": [
        _mrkdwn(f"story {_code(alert.story_id)} · article {_code(alert.article_id)}"
                + "".join(f" · {link}" for link in earlier))]})
    return {"text": f"[wirewatch] {_escape(alert.rule_id)}: {title}", "blocks": blocks}


class SlackSink(JsonPostSink):
    """Posts alerts to one Slack-compatible incoming webhook, with the retries of every HTTP sink."""

    name = "slack"

    @classmethod
    def from_settings(cls, settings: Settings, session: aiohttp.ClientSession | None = None) -> SlackSink:
        """A sink for `WIREWATCH_SLACK_WEBHOOK_URL`, with the webhook's retries and timeout."""
        return cls(settings.slack_webhook_url, RetryPolicy.from_settings(settings), settings.webhook_timeout, session)

    def body(self, alert: Alert) -> bytes:
        return orjson.dumps(slack_message(alert))


def _escape(text: str) -> str:
    """mrkdwn's three control characters as the entities Slack expects."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(text: str, url: str | None) -> str:
    """`text` linked to `url` when it is an http(s) URL; `<`, `>`, `|` and spaces cannot end the link early."""
    url = visible(url or "")
    if not url.lower().startswith(("https://", "http://")):
        return text
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    return f"<{safe}|{text}>"


def _code(text: str) -> str:
    """`text` as inline code; a backtick in an id would end it, so it becomes a quote."""
    return "`" + _escape(visible(text).replace("`", "'")) + "`"


def _names(names: list[str]) -> str:
    shown = ", ".join(_escape(shorten(name, NAME_WIDTH)) for name in names[:MAX_NAMES])
    return shown + (f" (+{len(names) - MAX_NAMES} more)" if len(names) > MAX_NAMES else "")


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
