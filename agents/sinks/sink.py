"""What every alert sink is to the alert agent: a name, `deliver(alert)` that says how it ended, and `close()`."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from streams.metrics import ALERT_DELIVERY_SECONDS, ALERTS
from streams.records import Alert


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended: `reason` is a short bounded code (dead-letter reason), `detail` is for people."""

    delivered: bool
    attempts: int
    reason: str                 # delivered, rejected (final), http_<status>, smtp_<code>, timeout, connection_error
    status: int | None = None   # last HTTP status or SMTP reply code, if the server answered
    detail: str = ""

    @property
    def outcome(self) -> str:
        """The `outcome` label of `wirewatch_alerts_total`: delivered, rejected (refused for good) or failed."""
        return "delivered" if self.delivered else "rejected" if self.reason == "rejected" else "failed"


DELIVERED = DeliveryResult(True, 1, "delivered")


class Sink(Protocol):
    """A channel alerts are delivered to; the agent records each delivery in its ledger, so a sink need not."""

    name: str  # the channel name rules use; also the `sink` metric label and the dead-letter reason prefix

    async def deliver(self, alert: Alert) -> DeliveryResult:
        """Deliver `alert` (retrying as the channel allows) and say how it ended; never raises for a refusal."""
        ...

    async def close(self) -> None:
        """Release connections and wake whoever waits on the sink; called once when the worker stops."""
        ...


def count_delivery(alert: Alert, sink: str, result: DeliveryResult) -> DeliveryResult:
    """Count `result` in `wirewatch_alerts_total` under the alert's rule and `sink`, and a delivery's time since the
    alert was created in `wirewatch_alert_delivery_seconds`; returns it unchanged."""
    ALERTS.labels(alert.rule_id, sink, result.outcome).inc()
    if result.delivered and alert.created_at:
        ALERT_DELIVERY_SECONDS.labels(sink).observe(max(time.time() - alert.created_at, 0.0))
    return result
