"""Deliver alerts as signed JSON POSTs, retrying what may succeed later; receivers check with `verify_signature`."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from yarl import URL

from streams import codecs
from streams.metrics import ALERTS
from streams.records import Alert
from streams.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Wirewatch-Signature"
TIMESTAMP_HEADER = "X-Wirewatch-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_4XX = (408, 429)


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended: `reason` is a short bounded code (dead-letter reason), `detail` is for people."""

    delivered: bool
    attempts: int
    reason: str                 # delivered, rejected (final 4xx), http_<status>, timeout, connection_error
    status: int | None = None   # last HTTP status, if a response came back
    detail: str = ""


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


class WebhookSink:
    """Posts alerts to one webhook URL with retries, back-off and an idempotency key the receiver can dedupe on."""

    def __init__(self, url: str, secret: str, retries: int = 5, timeout: float = 5.0,
                 session: aiohttp.ClientSession | None = None, *, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, retry_after_max: float = 60.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        if not secret:
            raise ValueError("webhook secret is empty: set WIREWATCH_WEBHOOK_SECRET so receivers can verify alerts")
        if retries < 1:
            raise ValueError(f"webhook retries must be at least 1, not {retries}")
        self.url = url
        self.retries = retries
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self._secret = secret
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Only scheme, host and port reach the logs: paths and queries of webhook URLs often hold tokens.
        self.shown_url = str(URL(url).origin())

    @classmethod
    def from_settings(cls, settings: Settings, session: aiohttp.ClientSession | None = None) -> WebhookSink:
        """A sink configured from `WIREWATCH_WEBHOOK_*`."""
        return cls(settings.webhook_url, settings.webhook_secret, settings.webhook_retries,
                   settings.webhook_timeout, session)

    def __repr__(self) -> str:
        return f"WebhookSink({self.shown_url!r}, retries={self.retries})"

    async def __aenter__(self) -> WebhookSink:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this sink created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, alert: Alert) -> DeliveryResult:
        """POST `alert`, retrying connection errors, timeouts, 408, 429 and 5xx; the last failure is returned."""
        # The alert's own fields only: Faust's "__faust" namespace marker means nothing to a receiver.
        body = codecs.dumps(alert.asdict())
        result = DeliveryResult(False, 0, "not_attempted")
        for attempt in range(1, self.retries + 1):
            result, retry_after = await self._attempt(alert, body, attempt)
            if result.delivered or result.reason == "rejected":
                break
            if attempt < self.retries:
                delay = self._delay(attempt, retry_after)
                log.warning("webhook %s: alert %s attempt %d/%d failed (%s); retrying in %.2fs", self.shown_url,
                            alert.idempotency_key[:12], attempt, self.retries, result.detail, delay)
                await self._sleep(delay)
        outcome = "delivered" if result.delivered else "rejected" if result.reason == "rejected" else "failed"
        ALERTS.labels(alert.rule_id, "webhook", outcome).inc()
        if not result.delivered:
            log.error("webhook %s: alert %s not delivered after %d attempt(s): %s", self.shown_url,
                      alert.idempotency_key[:12], result.attempts, result.detail)
        return result

    async def _attempt(self, alert: Alert, body: bytes, attempt: int) -> tuple[DeliveryResult, float | None]:
        # Signed per attempt: a fresh timestamp keeps retries inside a receiver's freshness window.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: alert.idempotency_key,
        }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(self.url, data=body, headers=headers, timeout=self.timeout) as response:
                status = response.status
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            return DeliveryResult(False, attempt, "timeout", None, f"no response within {self.timeout.total}s"), None
        except aiohttp.ClientError as exc:
            return DeliveryResult(False, attempt, "connection_error", None, type(exc).__name__), None
        if 200 <= status < 300:
            return DeliveryResult(True, attempt, "delivered", status, f"HTTP {status}"), None
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            return DeliveryResult(False, attempt, "rejected", status, f"HTTP {status}, not retried"), None
        return DeliveryResult(False, attempt, f"http_{status}", status, f"HTTP {status}"), retry_after

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: the server's Retry-After (bounded), else exponential back-off."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        # Half fixed, half random: retries from many workers spread out but never come back immediately.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds; the HTTP-date form and garbage fall back to our own back-off."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is not a delay
