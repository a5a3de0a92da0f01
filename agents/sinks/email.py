"""Deliver alerts as plain-text e-mail over SMTP (stdlib smtplib in a thread), with the webhook's retry policy.

A message's `Message-ID` is derived from the alert's idempotency key, so a resend (a retry, or a replay after a
crash) carries the same id and mail clients and filters can recognise it; `X-Wirewatch-Idempotency-Key` carries the
key itself. Permanent SMTP refusals (5xx) are final; 4xx replies, timeouts and lost connections are retried.
"""
from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from agents.sinks.retry import Attempt, RetryPolicy
from agents.sinks.sink import DeliveryResult
from agents.sinks.text import shorten, trigger_words, visible
from streams.records import Alert
from streams.settings import Settings

IDEMPOTENCY_HEADER = "X-Wirewatch-Idempotency-Key"
RULE_HEADER = "X-Wirewatch-Rule"
SUBJECT_TITLE_WIDTH = 150
MAX_SENTENCES = 20
REPLY_WIDTH = 120       # of the server's reply text kept in a result's detail


def alert_email(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """The message for `alert`: subject `[wirewatch] <rule id>: <title>`, a body that explains it, stable ids."""
    message = EmailMessage()
    # Headers from article text go through `visible`: a CR or LF in a title must not start a header of its own.
    message["Subject"] = f"[wirewatch] {alert.rule_id}: {shorten(alert.title, SUBJECT_TITLE_WIDTH)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(alert.created_at or None, usegmt=True)
    message["Message-ID"] = message_id(alert.idempotency_key, sender)
    message[IDEMPOTENCY_HEADER] = alert.idempotency_key
    message[RULE_HEADER] = alert.rule_id
    # Quoted-printable keeps the body 7-bit and its lines short whatever the article's script or sentence length.
    message.set_content(alert_text(alert), cte="quoted-printable")
    # Headers are folded when the message is written: at 78 columns the key would go on a continuation line of its
    # own, which some parsers (Python's) read back with a leading space. RFC 5322's hard limit is 998.
    message.policy = message.policy.clone(max_line_length=998)
    return message


def message_id(idempotency_key: str, sender: str) -> str:
    """`<key@sender's domain>`: the same alert always gets the same Message-ID."""
    return f"<{idempotency_key}@{sender.rpartition('@')[2] or 'wirewatch'}>"


def alert_text(alert: Alert) -> str:
    """The body: which rule fired and why, the article, what is new, and the ids to look it up by."""
    lines = [f"Rule {alert.rule_id} fired on a {trigger_words(alert.trigger)}: {visible(alert.description)}", "",
             visible(alert.title) or "(untitled)"]
    lines += [f"{label}: {visible(value)}" for label, value in (("Source", alert.source), ("Link", alert.url)) if value]
    why = [f"  {label}: " + ", ".join(visible(name) for name in names)
           for label, names in (("entities", alert.matched_entities), ("keywords", alert.matched_keywords)) if names]
    if why:
        lines += ["", "Why it matched:", *why]
    if alert.detail:
        lines += ["", f"Why now: {visible(alert.detail)}"]
    if alert.new_sentences:
        lines += ["", f"What is new ({len(alert.new_sentences)} sentence{'s' * (len(alert.new_sentences) > 1)}):"]
        lines += [f"  - {visible(sentence)}" for sentence in alert.new_sentences[:MAX_SENTENCES]]
        if len(alert.new_sentences) > MAX_SENTENCES:
            lines.append(f"  (+{len(alert.new_sentences) - MAX_SENTENCES} more)")
    if alert.story_links:
        lines += ["", "Earlier in this story:", *(f"  {visible(url)}" for url in alert.story_links)]
    lines += ["", f"Story: {visible(alert.story_id)}", f"Article: {visible(alert.article_id)}",
              f"Idempotency key: {alert.idempotency_key}"]
    return "\n".join(lines) + "\n"


class EmailSink:
    """Sends each alert as one e-mail to fixed recipients, a new SMTP connection per delivery."""

    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: list[str], policy: RetryPolicy, *,
                 timeout: float = 5.0, username: str = "", password: str = "", starttls: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if not recipients:
            raise ValueError("e-mail alerts need at least one recipient (WIREWATCH_SMTP_TO)")
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self.policy = policy
        self.timeout = timeout
        self.username = username
        self._password = password
        self.starttls = starttls
        self._ssl_context = ssl_context or ssl.create_default_context()
        self.shown_server = f"{host}:{port}"

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailSink:
        """A sink configured from `WIREWATCH_SMTP_*`, with the webhook's retries and timeout."""
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_recipients,
                   RetryPolicy.from_settings(settings), timeout=settings.webhook_timeout,
                   username=settings.smtp_username, password=settings.smtp_password,
                   starttls=settings.smtp_starttls)

    def __repr__(self) -> str:
        return f"EmailSink({self.shown_server!r}, recipients={len(self.recipients)}, starttls={self.starttls})"

    async def close(self) -> None:
        """Nothing to release: each delivery opens and closes its own connection."""

    async def deliver(self, alert: Alert) -> DeliveryResult:
        """Send `alert` under the retry policy; the last failure is returned (and counted) when none succeeds."""
        message = alert_email(alert, self.sender, self.recipients)
        return await self.policy.deliver(alert, self.name, self.shown_server,
                                         lambda attempt: asyncio.to_thread(self._send, message, attempt))

    def _send(self, message: EmailMessage, attempt: int) -> Attempt:
        """One SMTP session (blocking: runs in a thread); the reply decides whether a retry may help."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._ssl_context)
                if self.username:
                    smtp.login(self.username, self._password)
                refused = smtp.send_message(message, self.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as error:  # every recipient refused: final only if all for good
            codes = sorted({code for code, _ in error.recipients.values()})
            return _refusal(attempt, min(codes), f"every recipient refused ({', '.join(map(str, codes))})"), None
        except smtplib.SMTPNotSupportedError as error:
            return DeliveryResult(False, attempt, "rejected", None, f"server does not support it: {error}"), None
        except smtplib.SMTPResponseException as error:
            return _refusal(attempt, error.smtp_code, _reply_text(error.smtp_error)), None
        except (smtplib.SMTPException, OSError) as error:  # timed out, disconnected, refused, TLS failures
            # smtplib reports a read that timed out as a disconnection caused by the TimeoutError.
            if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
                return DeliveryResult(False, attempt, "timeout", None, f"no reply within {self.timeout}s"), None
            return DeliveryResult(False, attempt, "connection_error", None, type(error).__name__), None
        detail = f"{len(refused)} of {len(self.recipients)} recipients refused" if refused else "accepted"
        return DeliveryResult(True, attempt, "delivered", 250, detail), None


def _refusal(attempt: int, code: int, text: str) -> DeliveryResult:
    """5xx is final (`rejected`); 4xx is temporary (`smtp_<code>`, retried); anything else a protocol error."""
    reason = "rejected" if 500 <= code < 600 else f"smtp_{code}" if 400 <= code < 500 else "smtp_error"
    return DeliveryResult(False, attempt, reason, code, f"SMTP {code} {text}".strip())


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return shorten(text, REPLY_WIDTH)
