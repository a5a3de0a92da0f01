"""Retrying a delivery that may succeed later: attempts, exponential back-off with jitter, a bounded Retry-After."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agents.sinks.sink import DeliveryResult, count_delivery
from streams.records import Alert
from streams.settings import Settings

log = logging.getLogger(__name__)

# One attempt's result, and how long the server asked us to wait before the next one (HTTP Retry-After), if it did.
Attempt = tuple[DeliveryResult, float | None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how far apart a sink tries; a `rejected` result (a final refusal) is never tried again."""

    attempts: int = 5
    backoff_base: float = 0.5       # seconds; attempt n waits between half and all of base · 2^(n-1)
    backoff_max: float = 30.0
    retry_after_max: float = 60.0   # a server's Retry-After is honoured up to this
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"delivery retries must be at least 1, not {self.attempts}")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy of every retrying sink: `WIREWATCH_WEBHOOK_RETRIES` attempts."""
        return cls(settings.webhook_retries)

    async def deliver(self, alert: Alert, sink: str, where: str,
                      attempt: Callable[[int], Awaitable[Attempt]]) -> DeliveryResult:
        """Run `attempt(1)`, `attempt(2)`, … until one delivers, one is rejected or none is left; count the outcome.

        `where` names the destination in logs and must hold no secret (a URL's origin, an SMTP host).
        """
        result = DeliveryResult(False, 0, "not_attempted")
        for number in range(1, self.attempts + 1):
            result, retry_after = await attempt(number)
            if result.delivered or result.reason == "rejected":
                break
            if number < self.attempts:
                delay = self.delay(number, retry_after)
                log.warning("%s %s: alert %s attempt %d/%d failed (%s); retrying in %.2fs", sink, where,
                            alert.idempotency_key[:12], number, self.attempts, result.detail, delay)
                await self.sleep(delay)
        if not result.delivered:
            log.error("%s %s: alert %s not delivered after %d attempt(s): %s", sink, where,
                      alert.idempotency_key[:12], result.attempts, result.detail)
        return count_delivery(alert, sink, result)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt: the server's Retry-After (bounded), else exponential back-off."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        # Half fixed, half random: retries from many workers spread out but never come back immediately.
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
