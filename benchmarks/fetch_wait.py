"""Run a wirewatch worker whose Kafka consumers wait at most MS for records per fetch, to measure what the wait costs.

    python -m benchmarks.fetch_wait MS worker STAGE

faust-streaming 0.15.3 builds every worker's aiokafka consumer with `fetch_max_wait_ms=1500` written into its
driver (`faust/transport/drivers/aiokafka.py`), not taken from any Faust setting, and Tansu answers a fetch that
found no records only when that wait is over, even if records came meanwhile. This launcher overrides the wait in
the worker process only; wirewatch itself has no setting for it. For benchmarks, not for production.
"""
from __future__ import annotations

import sys
from typing import Any

import aiokafka

from agents import cli


def override_fetch_wait(milliseconds: int) -> None:
    """Make every aiokafka consumer built from now on in this process use `fetch_max_wait_ms=milliseconds`."""
    build = aiokafka.AIOKafkaConsumer.__init__

    def with_wait(self: aiokafka.AIOKafkaConsumer, *topics: str, **options: Any) -> None:
        build(self, *topics, **{**options, "fetch_max_wait_ms": milliseconds})

    aiokafka.AIOKafkaConsumer.__init__ = with_wait  # type: ignore[method-assign]


if __name__ == "__main__":
    override_fetch_wait(int(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
