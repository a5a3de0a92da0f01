"""The e-mail sink against a real SMTP server on 127.0.0.1 (aiosmtpd), which answers from a script."""
from __future__ import annotations

import logging
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from agents.sinks.email import EmailSink, alert_email
from agents.sinks.retry import RetryPolicy
from streams.settings import Settings
from tests.sink_fixtures import Mailbox, Sleeps, alerts_counted, full_alert, smtp_serving
from wirewatch.embedded_broker import free_port

SENDER = "wirewatch@alerts.example.com"
RECIPIENTS = ["desk@example.com", "ops@example.org"]
USER, PASSWORD = "wirewatch", "pa55-w0rd-never-logged"


def check_login(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: the server sends the 235 or 535 reply


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Mailbox, int]]]:
    """Start aiosmtpd servers on free ports: `start(mailbox=None, **smtp_options)` → (mailbox, port)."""
    with ExitStack() as running:
        def start(mailbox: Mailbox | None = None, **options: Any) -> tuple[Mailbox, int]:
            mailbox = mailbox or Mailbox()
            return mailbox, running.enter_context(smtp_serving(mailbox, **options))

        yield start


def sink(port: int, attempts: int = 3, sleeps: Sleeps | None = None, **options: Any) -> EmailSink:
    return EmailSink("127.0.0.1", port, SENDER, RECIPIENTS,
                     RetryPolicy(attempts, backoff_base=0.01, sleep=sleeps or Sleeps()), timeout=2.0, **options)


async def test_the_message_explains_the_alert_and_carries_its_key(smtp_server) -> None:
    mailbox, port = smtp_server()
    alert = full_alert()
    result = await sink(port).deliver(alert)
    assert (result.delivered, result.attempts) == (True, 1)
    [(sender, recipients, message, _)] = mailbox.received
    assert (sender, recipients) == (SENDER, RECIPIENTS)
    assert message["Subject"] == f"[wirewatch] korea-summit: {alert.title}"
    assert message["From"] == SENDER and message["To"] == ", ".join(RECIPIENTS)
    assert message["Message-ID"] == f"<{alert.idempotency_key}@alerts.example.com>"
    assert message["X-Wirewatch-Idempotency-Key"] == alert.idempotency_key
    assert message.get_content_type() == "text/plain"
    body = message.get_content().replace("\r\n", "\n")  # as it came over SMTP
    assert body.startswith("Rule korea-summit fired on a new development: Kim Jong Un or North Korea in the news\n")
    assert "Source: Bloomberg\n" in body
    assert "Link: https://www.bloomberg.com/news/articles/2019-06-29/trump-kim?srnd=politics&utm=x\n" in body
    assert "  entities: Kim Jong Un, North Korea\n  keywords: summit, DMZ\n" in body
    assert "What is new (5 sentences):\n  - Trump said he would be comfortable crossing into North Korea.\n" in body
    assert "  - Kim's sister, Kim Yo Jong, attended the talks.\n" in body
    assert "Earlier in this story:\n  https://www.bloomberg.com/news/articles/2019-06-29/trump-kim-v1\n" in body
    assert "Story: story-dmz\n" in body and f"Idempotency key: {alert.idempotency_key}\n" in body


async def test_a_resend_is_recognisable_by_its_message_id(smtp_server) -> None:
    mailbox, port = smtp_server()
    alert, other = full_alert(), full_alert(idempotency_key="77" * 32)
    for item in (alert, alert, other):
        assert (await sink(port).deliver(item)).delivered
    ids = [message["Message-ID"] for message in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]


async def test_a_temporary_refusal_is_retried_until_accepted(smtp_server) -> None:
    mailbox, port = smtp_server(Mailbox(data_replies=["451 4.3.0 try again later", "421 4.7.0 busy", "250 OK"]))
    sleeps = Sleeps()
    before = alerts_counted("korea-summit", "email", "delivered")
    result = await sink(port, sleeps=sleeps).deliver(full_alert())
    assert (result.delivered, result.attempts) == (True, 3)
    assert mailbox.attempts == 3 and len(mailbox.received) == 1
    assert len(sleeps.delays) == 2  # back-off between the attempts
    assert alerts_counted("korea-summit", "email", "delivered") == before + 1


async def test_a_permanent_refusal_is_final(smtp_server) -> None:
    mailbox, port = smtp_server(Mailbox(data_replies=["554 5.6.0 message refused", "250 OK"]))
    before = alerts_counted("korea-summit", "email", "rejected")
    result = await sink(port).deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason, result.status) == (False, 1, "rejected", 554)
    assert "554 5.6.0 message refused" in result.detail
    assert mailbox.attempts == 1 and not mailbox.received
    assert alerts_counted("korea-summit", "email", "rejected") == before + 1


async def test_recipients_refused_for_good_are_final_and_for_now_are_retried(smtp_server) -> None:
    _, port = smtp_server(Mailbox(rcpt_reply="550 5.1.1 no such mailbox"))
    assert (await sink(port).deliver(full_alert())).reason == "rejected"
    _mailbox, port = smtp_server(Mailbox(rcpt_reply="450 4.2.1 mailbox busy"))
    result = await sink(port, attempts=2).deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason) == (False, 2, "smtp_450")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_it_logs_in_and_a_wrong_password_is_final_and_never_logged(
        smtp_server, caplog: pytest.LogCaptureFixture) -> None:
    mailbox, port = smtp_server(authenticator=check_login, auth_require_tls=False, auth_required=True)
    assert (await sink(port, username=USER, password=PASSWORD).deliver(full_alert())).delivered
    assert len(mailbox.received) == 1
    caplog.set_level(logging.DEBUG)
    wrong = sink(port, username=USER, password="not-" + PASSWORD)
    result = await wrong.deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason, result.status) == (False, 1, "rejected", 535)
    shown = "\n".join(r.getMessage() for r in caplog.records) + repr(wrong) + result.detail
    assert "not delivered" in shown
    assert PASSWORD not in shown
    settings = Settings(smtp_host="smtp.test", smtp_from=SENDER, smtp_to=",".join(RECIPIENTS),
                        smtp_username=USER, smtp_password=PASSWORD)
    assert PASSWORD not in str(settings.redacted()) and PASSWORD not in repr(EmailSink.from_settings(settings))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with openssl (deploy/setup.sh --test installs it)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=smtp.test",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_starttls_comes_before_the_login_and_the_certificate_is_checked(smtp_server, certificate) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    mailbox, port = smtp_server(tls_context=server_tls, require_starttls=True, authenticator=check_login,
                                auth_required=True)  # and auth only over TLS, aiosmtpd's default
    trusting = ssl.create_default_context(cafile=str(cert))
    secure = sink(port, username=USER, password=PASSWORD, starttls=True, ssl_context=trusting)
    result = await secure.deliver(full_alert())
    assert result.delivered
    [(_, _, _, over_tls)] = mailbox.received
    assert over_tls
    # Without trusting that certificate the connection is refused before anything is sent (retried: it may be a
    # passing fault, and a later attempt with a fixed server succeeds).
    result = await sink(port, attempts=2, username=USER, password=PASSWORD, starttls=True).deliver(full_alert())
    assert (result.delivered, result.reason, len(mailbox.received)) == (False, "connection_error", 1)


async def test_starttls_wanted_from_a_server_without_it_is_final(smtp_server) -> None:
    mailbox, port = smtp_server()
    result = await sink(port, starttls=True).deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason) == (False, 1, "rejected")
    assert "STARTTLS" in result.detail and not mailbox.received


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        result = await EmailSink("127.0.0.1", silent.getsockname()[1], SENDER, RECIPIENTS,
                                 RetryPolicy(2, sleep=Sleeps()), timeout=0.5).deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason) == (False, 2, "timeout")


async def test_an_unreachable_server_is_a_connection_error() -> None:
    result = await sink(free_port(), attempts=2).deliver(full_alert())
    assert (result.delivered, result.attempts, result.reason) == (False, 2, "connection_error")


def test_a_title_cannot_add_headers() -> None:
    message = alert_email(full_alert(title="Markets\r\nBcc: everyone@example.com"), SENDER, RECIPIENTS)
    assert message["Subject"] == "[wirewatch] korea-summit: Markets Bcc: everyone@example.com"
    assert message["Bcc"] is None


@pytest.mark.parametrize("changes, problem", [
    ({"smtp_port": 0}, "SMTP_PORT must be a port from 1 to 65535"),
    ({"smtp_port": 70000}, "SMTP_PORT must be a port from 1 to 65535"),
    ({"smtp_to": ""}, "SMTP_TO names no recipient"),
    ({"smtp_to": "desk@example.com, not-an-address"}, "SMTP_TO: 'not-an-address' is not an address"),
    ({"smtp_from": "Wire Watch <w@example.com>"}, "SMTP_FROM: 'Wire Watch <w@example.com>' is not an address"),
    ({"smtp_username": USER}, "SMTP_USERNAME and WIREWATCH_SMTP_PASSWORD go together"),
])
def test_settings_that_cannot_send_mail_are_refused(changes: dict[str, Any], problem: str) -> None:
    good = {"smtp_host": "smtp.test", "smtp_from": SENDER, "smtp_to": "desk@example.com"}
    with pytest.raises(ValueError, match=problem):
        Settings(**{**good, **changes})


def test_the_sink_comes_from_the_settings() -> None:
    settings = Settings.from_env({"WIREWATCH_SMTP_HOST": "smtp.test", "WIREWATCH_SMTP_PORT": "587",
                                  "WIREWATCH_SMTP_FROM": SENDER, "WIREWATCH_SMTP_STARTTLS": "true",
                                  "WIREWATCH_SMTP_TO": " desk@example.com,ops@example.org ",
                                  "WIREWATCH_WEBHOOK_RETRIES": "2"})
    made = EmailSink.from_settings(settings)
    assert (made.host, made.port, made.recipients, made.starttls, made.policy.attempts) == (
        "smtp.test", 587, RECIPIENTS, True, 2)
