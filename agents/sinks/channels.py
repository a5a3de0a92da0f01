"""The alert channels a worker delivers to besides the alerts topic, built from the settings."""
from __future__ import annotations

from agents.sinks.email import EmailSink
from agents.sinks.sink import Sink
from agents.sinks.slack import SlackSink
from agents.sinks.webhook import WebhookSink
from streams.settings import Settings

# The setting that turns each optional channel on; `sse` is always on (it only fills a buffer in memory).
SWITCHES = {"webhook": "WIREWATCH_WEBHOOK_URL", "slack": "WIREWATCH_SLACK_WEBHOOK_URL", "email": "WIREWATCH_SMTP_HOST"}


def configured_sinks(settings: Settings) -> dict[str, Sink]:
    """Channel name → sink, for each optional channel whose setting is given, in delivery order."""
    sinks: dict[str, Sink] = {}
    if settings.webhook_url:
        sinks["webhook"] = WebhookSink.from_settings(settings)
    if settings.slack_webhook_url:
        sinks["slack"] = SlackSink.from_settings(settings)
    if settings.smtp_host:
        sinks["email"] = EmailSink.from_settings(settings)
    return sinks
