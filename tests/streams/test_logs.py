"""Worker logs while the broker is away: the Kafka clients' errors at every retry come down to a few lines that count
the rest; our own lines, each about one event, all stay."""
from __future__ import annotations

import logging
import subprocess
import sys

import orjson

from streams.logs import RepeatFilter
from tests.conftest import REPO

# aiokafka's own call, ten times a second per client while the broker is down.
RECONNECT = "Unable connect to node with id %s: %s"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(logger: str, message: str = RECONNECT, level: int = logging.ERROR,
           args: tuple[object, ...] = (1, "[Errno 111] Connect call failed")) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, message, args, None)


def let_through(repeats: RepeatFilter, records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if repeats.filter(r)]


def test_a_minute_of_reconnect_errors_is_one_line_per_interval_counting_the_ones_held_back() -> None:
    clock = Clock()
    repeats = RepeatFilter(interval=10.0, clock=clock)
    shown = []
    for tick in range(600):  # ten a second for a minute
        clock.now = tick / 10
        shown += let_through(repeats, [record("aiokafka", args=(1, f"attempt {tick}"))])
    assert [getattr(r, "suppressed", 0) for r in shown] == [0, 99, 99, 99, 99, 99]
    assert shown[0].getMessage() == "Unable connect to node with id 1: attempt 0", "the first one as it was"


def test_each_logger_and_message_template_has_its_own_count() -> None:
    repeats = RepeatFilter(interval=10.0, clock=Clock())
    shown = let_through(repeats, [record("aiokafka"), record("aiokafka"),
                                  record("aiokafka", "Unable to update metadata from %s", args=([1],)),
                                  record("aiokafka.consumer.fetcher"), record("aiokafka.consumer.fetcher")])
    assert [(r.name, r.msg) for r in shown] == [("aiokafka", RECONNECT),
                                                ("aiokafka", "Unable to update metadata from %s"),
                                                ("aiokafka.consumer.fetcher", RECONNECT)]


def test_our_own_warnings_and_the_clients_info_lines_are_never_held_back() -> None:
    repeats = RepeatFilter(interval=10.0, clock=Clock())
    ours = [record("streams.deadletter", "dead letter", logging.WARNING, ()) for _ in range(50)]
    lifecycle = [record("aiokafka.consumer.group_coordinator", "(Re-)joining group %s", logging.INFO, ("g",))
                 for _ in range(50)]
    assert len(let_through(repeats, ours + lifecycle)) == 100


def test_the_logging_configuration_of_every_process_thins_the_clients_repeats() -> None:
    script = ("import logging, logging.config\n"
              "from streams.logs import logging_config\n"
              "logging.config.dictConfig(logging_config('info'))\n"
              f"for attempt in range(1000): logging.getLogger('aiokafka').error({RECONNECT!r}, 1, attempt)\n"
              "logging.getLogger('wirewatch.supervisor').warning('broker died')\n")
    said = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, check=True).stderr
    lines = [orjson.loads(line) for line in said.splitlines()]
    assert [line["message"] for line in lines] == ["Unable connect to node with id 1: 0", "broker died"]
