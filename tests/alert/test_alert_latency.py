"""The alert-latency benchmark's pure helpers (no broker, no workers)."""
from __future__ import annotations

import pytest

from benchmarks.alert_latency import percentiles_ms, record_id


def test_percentiles_are_inclusive_quantiles_in_milliseconds() -> None:
    latencies = [0.1 * n for n in range(1, 11)]  # 0.1 s … 1.0 s
    assert percentiles_ms(latencies) == pytest.approx({"p50": 550.0, "p90": 910.0, "p99": 991.0, "max": 1000.0})


def test_one_latency_is_every_percentile() -> None:
    assert percentiles_ms([0.25]) == {"p50": 250.0, "p90": 250.0, "p99": 250.0, "max": 250.0}


def test_records_are_matched_by_article_id_and_alerts_by_idempotency_key() -> None:
    assert record_id("clean", {"id": "a1"}) == "a1"
    assert record_id("tagged", {"article": {"id": "a1"}, "verdict": {}}) == "a1"
    assert record_id("alerts", {"idempotency_key": "k1", "article_id": "a1"}) == "k1"
