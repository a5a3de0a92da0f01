"""Alert sinks that POST JSON to one URL (the webhook, Slack): the session, the timeout, what an answer means."""
from __future__ import annotations

import math

import aiohttp
from yarl import URL

from agents.sinks.retry import Attempt, RetryPolicy
from agents.sinks.sink import DeliveryResult
from streams.records import Alert

IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_4XX = (408, 429)


class JsonPostSink:
    """Posts each alert as JSON to one URL, retrying connection errors, timeouts, 408, 429 and 5xx.

    A subclass says what the body is (`body`) and may add headers (`headers`, called per attempt). Every request
    carries the alert's idempotency key, the same on every retry and replay, for the receiver to drop repeats.
    """

    name = "http"

    def __init__(self, url: str, policy: RetryPolicy, timeout: float = 5.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None
        # Only scheme, host and port reach the logs: paths and queries of webhook URLs often hold tokens.
        self.shown_url = str(URL(url).origin())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown_url!r}, retries={self.policy.attempts})"

    async def __aenter__(self) -> JsonPostSink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this sink created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def body(self, alert: Alert) -> bytes:
        """The JSON body posted for `alert`."""
        raise NotImplementedError

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        """The headers of one attempt."""
        return {"Content-Type": "application/json", IDEMPOTENCY_HEADER: alert.idempotency_key}

    async def deliver(self, alert: Alert) -> DeliveryResult:
        """POST `alert` under the retry policy; the last failure is returned (and counted) when none succeeds."""
        body = self.body(alert)
        return await self.policy.deliver(alert, self.name, self.shown_url,
                                         lambda attempt: self._post(body, self.headers(alert, body), attempt))

    async def _post(self, body: bytes, headers: dict[str, str], attempt: int) -> Attempt:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(self.url, data=body, headers=headers, timeout=self.timeout) as response:
                status = response.status
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        except TimeoutError:
            return DeliveryResult(False, attempt, "timeout", None, f"no response within {self.timeout.total}s"), None
        except aiohttp.ClientError as exc:
            return DeliveryResult(False, attempt, "connection_error", None, type(exc).__name__), None
        if 200 <= status < 300:
            return DeliveryResult(True, attempt, "delivered", status, f"HTTP {status}"), None
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            return DeliveryResult(False, attempt, "rejected", status, f"HTTP {status}, not retried"), None
        return DeliveryResult(False, attempt, f"http_{status}", status, f"HTTP {status}"), retry_after


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds; the HTTP-date form and garbage fall back to our own back-off."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return None if math.isnan(seconds) else max(seconds, 0.0)
