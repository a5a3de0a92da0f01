"""A worker's health without a broker: the loop watchdog on a fake clock, the readiness checks over a stand-in app,
the broker probe against a port nobody listens on, recovery counting, and `/healthz` and `/readyz` served by a
stage's own web server (also while its event loop is blocked)."""
from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiokafka.client import AIOKafkaClient
from faust.exceptions import ConsumerNotStarted
from faust.types import TP
from prometheus_client import REGISTRY

from streams.health import STALL_SECONDS, TICK_SECONDS, LoopWatchdog, WorkerHealth, broker_problem, readiness_problems
from streams.settings import Settings
from tests.conftest import http_get, stage_app
from wirewatch.embedded_broker import free_port


def test_the_watchdog_says_when_the_loop_stopped_ticking_and_when_a_tick_came_far_too_late() -> None:
    clock = SimpleNamespace(now=100.0)
    watchdog = LoopWatchdog(lambda: clock.now)
    clock.now += TICK_SECONDS
    watchdog.tick()
    assert watchdog.problems() == [] and watchdog.lag == 0.0
    clock.now += STALL_SECONDS + 2  # the loop was blocked: no tick since
    assert watchdog.problems() == [f"event loop watchdog has not ticked for {STALL_SECONDS + 2:.1f} s"]
    watchdog.tick()  # it came back: the tick tells how late it was
    assert watchdog.problems() == [f"event loop lagging: its last timer tick came {STALL_SECONDS + 1:.1f} s late"]
    clock.now += TICK_SECONDS
    watchdog.tick()
    assert watchdog.problems() == []


def stand_in_app(assignment: set[TP] | None, *, rebalancing: bool = False, actives_ready: bool = True,
                 remaining: int = 0) -> Any:
    def assigned() -> set[TP]:
        if assignment is None:
            raise ConsumerNotStarted("the consumer thread has not started")
        return assignment

    recovery = SimpleNamespace(active_remaining_total=lambda: remaining)
    return SimpleNamespace(consumer=SimpleNamespace(assignment=assigned), conf=SimpleNamespace(id="p-stories"),
                           rebalancing=rebalancing, tables=SimpleNamespace(actives_ready=actives_ready,
                                                                           recovery=recovery))


def test_readiness_gives_one_reason_per_failed_check_and_none_when_ready() -> None:
    owned = {TP("p.articles.tagged", 0)}
    assert readiness_problems(stand_in_app(owned), None) == []
    assert readiness_problems(stand_in_app(None, rebalancing=True, actives_ready=False, remaining=-1),
                              "KafkaConnectionError: refused") == [
        "broker unreachable: KafkaConnectionError: refused",
        "not joined consumer group p-stories: no partitions assigned",
        "consumer group rebalancing",
        "tables not recovered: 0 changelog records to restore"]  # not known yet is not negative
    assert readiness_problems(stand_in_app(set()), None) == [
        "not joined consumer group p-stories: no partitions assigned"]
    assert readiness_problems(stand_in_app(owned, actives_ready=False, remaining=42), None) == [
        "tables not recovered: 42 changelog records to restore"]


def test_the_broker_probe_names_the_error_when_nothing_answers() -> None:
    async def probe() -> str | None:
        client = AIOKafkaClient(bootstrap_servers=[f"127.0.0.1:{free_port()}"], request_timeout_ms=1000)
        try:
            return await broker_problem(client)
        finally:
            await client.close()

    assert "KafkaConnectionError" in (asyncio.run(probe()) or "")


def health_of(app: Any) -> WorkerHealth:
    return next(sensor for sensor in app.sensors if isinstance(sensor, WorkerHealth))


def sample(name: str, stage: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"stage": stage})


async def test_recovery_counts_the_restored_records_of_active_partitions_only_and_a_rebalance_starts_over() -> None:
    app, _, _ = stage_app("stories")
    health = health_of(app)
    [table] = app.tables.values()
    active, standby = TP(table.changelog_topic.get_topic_name(), 0), TP(table.changelog_topic.get_topic_name(), 1)
    app.tables.recovery.active_tps.add(active)
    app.tables.recovery.standby_tps.add(standby)
    rebalances = sample("wirewatch_rebalances_total", "stories") or 0.0
    health.on_rebalance_start(app)
    assert sample("wirewatch_rebalances_total", "stories") == rebalances + 1
    for tp in (active, standby, active):
        await table.on_changelog_event(SimpleNamespace(message=SimpleNamespace(tp=tp)))
    assert sample("wirewatch_table_recovery_restored_records", "stories") == 2
    health.on_rebalance_start(app)
    assert sample("wirewatch_table_recovery_restored_records", "stories") == 0


async def test_a_worker_serves_healthz_and_readyz_and_a_blocked_loop_leaves_the_probe_to_time_out() -> None:
    settings = Settings.from_env({}, web_port=free_port())
    app, _, _ = stage_app("stories", settings)
    base = f"http://127.0.0.1:{settings.web_port}"
    await app.web.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert (response.status, await response.text()) == (200, "ok\n")
            async with session.get(f"{base}/readyz") as response:  # no consumer: never joined
                body = await response.text()
                assert response.status == 503 and "not joined consumer group" in body
                assert "tables not recovered" in body
            assert sample("wirewatch_worker_ready", "stories") == 0

        answers: list[Any] = []
        asking = threading.Thread(target=lambda: answers.append(_timed_out(f"{base}/healthz", timeout=1.0)))
        asking.start()
        time.sleep(2.0)  # noqa: ASYNC251 — the point: block the loop the web server runs on, as a runaway would
        await asyncio.to_thread(asking.join)
        assert answers == [True]
        assert await asyncio.to_thread(http_get, f"{base}/healthz") == (200, "ok\n")
    finally:
        await app.web.stop()


def _timed_out(url: str, timeout: float) -> bool:
    try:
        http_get(url, timeout)
    except TimeoutError:
        return True
    return False


def test_a_crashed_worker_is_not_alive() -> None:
    app, _, _ = stage_app("stories")
    health = health_of(app)
    assert health.liveness() == []
    app._crash(RuntimeError("the agent died"))  # what mode's Service.crash records, without its logging and stopping
    assert health.liveness() == ["worker crashed: RuntimeError('the agent died')"]
