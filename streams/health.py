"""A worker's health on its web port: `GET /healthz` says the process is alive and its event loop keeps time,
`GET /readyz` that it can do its work (joined its consumer group, tables recovered, broker reachable); each answers
503 with one reason a line when not. The per-worker gauges that follow them are kept here too.

A blocked event loop cannot answer `/healthz` at all (the web server runs on it): the probe's timeout covers that.
The loop watchdog catches the loop that answers but falls behind (a timer firing far too late) or stopped ticking.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import faust
import mode
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from faust.exceptions import ConsumerNotStarted
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import EventT
from faust.web import Request, Response, View

from streams.metrics import REBALANCES, RECOVERY_REMAINING, RECOVERY_RESTORED, WORKER_READY
from streams.settings import Settings

TICK_SECONDS = 1.0           # the watchdog timer's period; also how often the gauges are brought up to date
STALL_SECONDS = 10.0         # a watchdog tick this late (or missing this long) means the loop is not responsive
BROKER_PROBE_SECONDS = 5.0   # how often the broker is asked for its metadata, and how long an answer may take


class LoopWatchdog:
    """What a periodic timer on the event loop saw: how late its last tick came and how long since it ticked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_tick = clock()
        self.lag = 0.0  # seconds the last tick came later than TICK_SECONDS after the one before

    def tick(self) -> None:
        now = self.clock()
        self.lag = max(now - self.last_tick - TICK_SECONDS, 0.0)
        self.last_tick = now

    def problems(self) -> list[str]:
        """Why the loop is not responsive (empty when it is)."""
        silent = self.clock() - self.last_tick
        if silent > STALL_SECONDS:
            return [f"event loop watchdog has not ticked for {silent:.1f} s"]
        if self.lag > STALL_SECONDS:
            return [f"event loop lagging: its last timer tick came {self.lag:.1f} s late"]
        return []


def readiness_problems(app: faust.App, broker_problem: str | None) -> list[str]:
    """Why `app` cannot do its work yet (empty when ready): one reason per failed check."""
    problems = [f"broker unreachable: {broker_problem}"] if broker_problem else []
    try:
        assigned = app.consumer.assignment()
    except ConsumerNotStarted:
        assigned = set()
    if not assigned:
        problems.append(f"not joined consumer group {app.conf.id}: no partitions assigned")
    if app.rebalancing:
        problems.append("consumer group rebalancing")
    if not app.tables.actives_ready:
        problems.append(f"tables not recovered: {remaining_to_restore(app)} changelog records to restore")
    return problems


def remaining_to_restore(app: faust.App) -> int:
    """Changelog records the app's active table partitions still have to restore (0 once none, or not known yet)."""
    return max(recovery(app).active_remaining_total(), 0)


def recovery(app: faust.App) -> Recovery:
    """The app's table recovery service (Faust's TableManager has it; its declared type does not say so)."""
    return cast(TableManager, app.tables).recovery


class WorkerHealth(faust.Sensor):
    """One worker's health: a sensor (started first, stopped last) that counts rebalances, runs the loop watchdog
    and the broker probe, and counts the changelog records recovery restores (`on_changelog_event`)."""

    def __init__(self, app: faust.App, stage: str, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app, self.stage, self.settings = app, stage, settings
        self.watchdog = LoopWatchdog()
        self.broker_problem: str | None = "not asked yet"

    def liveness(self) -> list[str]:
        """Why the worker is not alive and responsive (empty when it is)."""
        crashed = [f"worker crashed: {self.app.crash_reason!r}"] if self.app.crashed else []
        return crashed + self.watchdog.problems()

    def readiness(self) -> list[str]:
        """Why the worker is not ready, also setting `wirewatch_worker_ready` and the recovery gauges."""
        problems = readiness_problems(self.app, self.broker_problem)
        WORKER_READY.labels(self.stage).set(0 if problems else 1)
        RECOVERY_REMAINING.labels(self.stage).set(0 if self.app.tables.actives_ready else
                                                  remaining_to_restore(self.app))
        return problems

    def on_rebalance_start(self, app: faust.types.AppT) -> dict[Any, Any]:
        REBALANCES.labels(self.stage).inc()
        RECOVERY_RESTORED.labels(self.stage).set(0)  # the gauge follows the recovery this rebalance starts
        return super().on_rebalance_start(app)

    async def on_changelog_event(self, event: EventT[Any]) -> None:
        """Called by a table for each changelog record recovery reads: counts those of active partitions (a standby
        replica's keep coming while the worker works, and are not a recovery's progress)."""
        if event.message.tp in recovery(self.app).active_tps:
            RECOVERY_RESTORED.labels(self.stage).inc()

    @mode.Service.task
    async def _tick(self) -> None:
        self.watchdog = LoopWatchdog()  # from the worker's start: waiting for the broker before it is no stall
        while not self.should_stop:
            await self.sleep(TICK_SECONDS)
            self.watchdog.tick()
            self.readiness()

    @mode.Service.task
    async def _probe_broker(self) -> None:
        client = AIOKafkaClient(bootstrap_servers=self.settings.bootstrap_servers,
                                client_id=f"{self.app.conf.id}-health",
                                request_timeout_ms=int(BROKER_PROBE_SECONDS * 1000))
        try:
            while not self.should_stop:
                self.broker_problem = await broker_problem(client)
                await self.sleep(BROKER_PROBE_SECONDS)
        finally:
            await client.close()


async def broker_problem(client: AIOKafkaClient) -> str | None:
    """Why the broker does not answer a metadata request within BROKER_PROBE_SECONDS (None when it does)."""
    try:
        async with asyncio.timeout(BROKER_PROBE_SECONDS):
            if not client.cluster.brokers():  # bootstrapped once, the client finds the brokers itself afterwards
                await client.bootstrap()
            await client.fetch_all_metadata()
    except TimeoutError:
        return f"no metadata answer within {BROKER_PROBE_SECONDS:.0f} s"
    except (KafkaError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def install_health(app: faust.App, stage: str, settings: Settings) -> WorkerHealth:
    """Add the worker's health sensor and its `/healthz` and `/readyz` pages to `app`."""
    health = WorkerHealth(app, stage, settings)
    app.sensors.add(health)

    @app.page("/healthz")
    class Liveness(View):
        """200 "ok" when the process is alive and its event loop responsive; else 503 and why."""

        async def get(self, request: Request) -> Response:
            return answer(self, health.liveness(), "ok")

    @app.page("/readyz")
    class Readiness(View):
        """200 "ready" when the worker joined its group, its tables are recovered and the broker answers; else
        503 and why."""

        async def get(self, request: Request) -> Response:
            return answer(self, health.readiness(), "ready")

    return health


def answer(view: View, problems: list[str], fine: str) -> Response:
    """A probe's answer: 200 and `fine`, or 503 and the problems, one a line (plain text)."""
    body = "\n".join(problems or [fine]) + "\n"
    return view.text(body, status=503 if problems else 200)
