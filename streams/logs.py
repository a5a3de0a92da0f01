"""Structured logs: one JSON object per line, with the `extra=` fields of each call; never payloads or secrets.

The Kafka client libraries log an error at every retry while their broker is away (ten a second per client, over
1 MB a minute per worker); their repeated warnings and errors are thinned to one per `REPEAT_INTERVAL` seconds,
and the line that gets through says how many like it were held back (`"suppressed": N`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Whose repeats are thinned: the libraries that retry on their own. Our loggers say something about each event
# (a dead letter, an alert not delivered), which a summary would lose.
CLIENT_LOGGERS = ("aiokafka", "faust", "mode")
REPEAT_INTERVAL = 10.0
_MAX_KEYS = 1024   # distinct messages remembered (a library may format its values into the message itself)


class JsonFormatter(logging.Formatter):
    """Formats a log record as a JSON line: time, level, logger, message and any structured extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class RepeatFilter(logging.Filter):
    """Lets the first of repeated records through, then at most one per `interval` seconds for each logger and
    message template (its arguments may differ), carrying in `suppressed` the count of those held back since."""

    def __init__(self, interval: float = REPEAT_INTERVAL, loggers: tuple[str, ...] = CLIENT_LOGGERS,
                 level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.loggers = loggers
        self.level = level
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}   # (logger, template) → (last let through, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level or not any(record.name == name or record.name.startswith(name + ".")
                                                  for name in self.loggers):
            return True
        key, now = (record.name, str(record.msg)), self.clock()
        last, held = self._seen.get(key, (-self.interval, 0))
        if now - last < self.interval:
            self._seen[key] = (last, held + 1)
            return False
        if held:
            record.suppressed = held
        if len(self._seen) >= _MAX_KEYS:
            self._seen.clear()   # bounded memory; what it costs is one more line of each template
        self._seen[key] = (now, 0)
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict sending every logger's records to stderr as JSON lines, the Kafka
    clients' repeated complaints thinned."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"repeats": {"()": RepeatFilter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
                                "filters": ["repeats"]}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
