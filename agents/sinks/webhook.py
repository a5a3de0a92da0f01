"""Deliver alerts as signed JSON POSTs, retrying what may succeed later; receivers check with `verify_signature`."""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import aiohttp

from agents.sinks.http import IDEMPOTENCY_HEADER, JsonPostSink
from agents.sinks.retry import RetryPolicy
from agents.sinks.sink import DeliveryResult
from streams import codecs
from streams.records import Alert
from streams.settings import Settings

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryResult",
    "WebhookSink",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Wirewatch-Signature"
TIMESTAMP_HEADER = "X-Wirewatch-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of `timestamp.body`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of `timestamp` and `body` under `secret` (constant-time compare).

    Receivers should also reject timestamps older than a few minutes, so a captured request cannot be replayed.
    """
    try:
        expected = sign(secret, timestamp, body)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), header.encode("utf-8", "replace"))


class WebhookSink(JsonPostSink):
    """Posts alerts to one webhook URL with retries, back-off, an HMAC signature and an idempotency key."""

    name = "webhook"

    def __init__(self, url: str, secret: str, retries: int = 5, timeout: float = 5.0,
                 session: aiohttp.ClientSession | None = None, **backoff: Any) -> None:
        """`backoff`: the other `RetryPolicy` fields (backoff_base, backoff_max, retry_after_max, sleep, rng)."""
        if not secret:
            raise ValueError("webhook secret is empty: set WIREWATCH_WEBHOOK_SECRET so receivers can verify alerts")
        super().__init__(url, RetryPolicy(retries, **backoff), timeout, session)
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings, session: aiohttp.ClientSession | None = None) -> WebhookSink:
        """A sink configured from `WIREWATCH_WEBHOOK_*`."""
        return cls(settings.webhook_url, settings.webhook_secret, settings.webhook_retries,
                   settings.webhook_timeout, session)

    def body(self, alert: Alert) -> bytes:
        # The alert's own fields only: Faust's "__faust" namespace marker means nothing to a receiver.
        return codecs.dumps(alert.asdict())

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        # Signed per attempt: a fresh timestamp keeps retries inside a receiver's freshness window.
        timestamp = str(int(time.time()))
        return {**super().headers(alert, body), TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self._secret, timestamp, body)}
