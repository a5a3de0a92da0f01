"""The embedded broker's set-up steps, on the real Kafka jars."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wirewatch import embedded_broker
from wirewatch.embedded_broker import EmbeddedBroker
from streams.settings import Settings

# Its URL-safe base64 starts with "-": one random id in 64 did, and the format command took it for an option.
DASH_FIRST = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))


@pytest.fixture
def dash_first_then_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """`uuid.uuid4` gives DASH_FIRST once, then random ids."""
    draws: Iterator[uuid.UUID] = iter([DASH_FIRST])
    monkeypatch.setattr(embedded_broker.uuid, "uuid4", lambda: next(draws, None) or uuid.UUID(bytes=bytes(range(16))))


def test_a_cluster_id_never_starts_with_a_dash(dash_first_then_random: None) -> None:
    cluster_id = embedded_broker.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_a_new_node_is_formatted_whatever_id_is_drawn_first(dash_first_then_random: None, tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "node", Settings.from_env({}).kafka_home)
    broker.data_dir.mkdir(parents=True)
    broker.format(broker.write_config())
    assert broker.formatted
    assert "cluster.id=-" not in (broker.data_dir / "meta.properties").read_text()
