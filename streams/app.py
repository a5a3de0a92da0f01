"""The Faust app factory: one app per stage (its own consumer group), configured from Settings."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import faust
from faust.types import TableT
from faust.types.tables import ChangelogEventCallback
from faust.web import Request, Response, View
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams.health import install_health
from streams.metrics import exposition
from streams.settings import Settings
from streams.topics import message_limit_bytes
from streams.transport import FlowControl, transport_class


class WirewatchApp(faust.App):
    """A Faust app whose flow control keeps queued events when flow resumes (see `streams.transport`), and whose
    tables tell `changelog_listener` of each changelog record recovery restores (`streams.health`)."""

    changelog_listener: ChangelogEventCallback | None = None

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControl(loop=self.loop)

    def Table(self, name: str, **options: Any) -> TableT[Any, Any]:
        if self.changelog_listener is not None:
            options.setdefault("on_changelog_event", self.changelog_listener)
        return super().Table(name, **options)


def create_app(settings: Settings, stage: str) -> faust.App:
    """A Faust app for `stage`, configured from the settings, with `/metrics`, `/healthz` and `/readyz` pages."""
    app = WirewatchApp(
        f"{settings.topic_prefix}-{stage}",
        broker=settings.broker,
        store=f"{settings.table_store}://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        producer_max_batch_size=settings.producer_max_batch_bytes,
        producer_max_request_size=message_limit_bytes(settings),
        producer_linger=settings.producer_linger_ms / 1000,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        broker_commit_interval=settings.commit_interval,
        processing_guarantee=settings.processing_guarantee,
        consumer_auto_offset_reset="earliest",
        web_bind=settings.web_host,
        web_host=advertised_host(settings.web_host),
        web_port=settings.web_port,
        web_enabled=True,
        datadir=str(table_dir(settings, stage)),
    )
    app.transport = transport_class(settings.fetch_wait_ms)(app.conf.broker_consumer, app)
    health = install_health(app, stage, settings)
    app.changelog_listener = health.on_changelog_event

    @app.page("/metrics")
    class Metrics(View):
        """Prometheus scrape endpoint for this worker."""

        async def get(self, request: Request) -> Response:
            health.readiness()  # the readiness and recovery gauges as of this scrape
            body, content_type = exposition()
            return self.bytes(body, content_type=content_type.split(";")[0])

    return app


def table_dir(settings: Settings, stage: str) -> Path:
    """Where a worker keeps its tables: one folder per worker, named by its web port (unique on a machine and the
    same when `run` restarts it), because RocksDB locks a partition's files and Faust keeps a revoked one open."""
    return settings.data_dir / "faust" / f"{stage}-{settings.web_port}"


def advertised_host(web_host: str) -> str:
    """The host other workers reach this one's web server at (Faust's canonical URL, used to route table views).

    The bind address itself, unless it binds every interface (containers): then the host name, as Faust defaults to.
    """
    return socket.gethostname() if web_host in ("0.0.0.0", "::", "") else web_host
