"""Every long-running process rides out a Postgres restart: API, two workers and the
relay run as the real subprocesses against a private cluster that is restarted twice
while tasks run; nothing is lost, nothing runs twice, nobody exits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from app.application.auth import create_tenant
from app.bootstrap import running_services, tenant_repository
from app.config import load_settings
from tests.faults.conftest import PrivateCluster, Process, Processes, free_port, wait_until
from tests.faults.recorder import Recorder

TASKS = 300


def api_key(url: str) -> str:
    async def issue() -> str:
        settings = load_settings(database_url=url, log_console=False)
        async with running_services(settings, process="test") as services:
            issued = await create_tenant("faults", tenants=tenant_repository(services))
        return issued.key

    return asyncio.run(issue())


def task_rows(url: str) -> list[tuple[Any, ...]]:
    """(id, status, attempts run, event sequences) of every task."""
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute(
            "SELECT t.id::text, t.status::text,"
            " (SELECT count(*) FROM task_attempts a WHERE a.task_id = t.id),"
            " (SELECT array_agg(e.sequence ORDER BY e.sequence) FROM task_events e"
            "  WHERE e.task_id = t.id)"
            " FROM tasks t"
        ).fetchall()


def all_succeeded(url: str) -> bool:
    try:
        rows = task_rows(url)
    except psycopg.OperationalError:
        return False
    return len(rows) == TASKS and all(status == "Succeeded" for _, status, _, _ in rows)


def assert_state_changes_logged_once_per_outage(process: Process, outages: int) -> None:
    unreachable = process.events("database_unreachable")
    reconnected = process.events("database_reconnected")
    # One line when it went, one when it came back; never one per retry.
    assert 1 <= len(unreachable) <= outages, (process.name, unreachable)
    assert len(reconnected) == len(unreachable), (process.name, reconnected)
    assert all(entry["error_type"] and "retry_in" in entry for entry in unreachable)
    # The API's event watcher, a worker's listener and claims: one line per outage too.
    for name in ("event_watch_reconnecting", "listener_reconnecting", "lease_failed"):
        assert len(process.events(name)) <= outages, (process.name, name)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_api_workers_and_relay_ride_out_two_postgres_restarts(
    private_cluster: PrivateCluster, cluster_database: str, exchange: str, processes: Processes
) -> None:
    url = cluster_database
    recorder = Recorder(exchange)
    env = {"DATABASE_URL": url, "RELAY_EXCHANGE": exchange}
    port = free_port()
    api = processes.start("api", "--port", str(port), **env)
    workers = [processes.start("worker", "--concurrency", "10", **env) for _ in range(2)]
    relay = processes.start("relay", **env)
    key = api_key(url)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
        wait_until(lambda: _healthy(http), timeout=20, what="the API answers /health")
        # 20 at a time, a second each: the restarts come while they run.
        task = {"type": "demo.sleep", "payload": {"seconds": 1.0}}
        for _ in range(TASKS // 100):
            response = http.post("/api/v1/tasks/batch", json={"tasks": [task] * 100})
            assert response.status_code in {200, 201, 202}, response.text

        time.sleep(2.0)  # tasks running, events flowing
        restarts = [time.time()]
        private_cluster.restart()
        time.sleep(2.0)
        # The second time the server stays away for a few seconds, long enough for
        # every process to notice (a quick restart may pass unseen between probes).
        restarts.append(time.time())
        private_cluster.stop()
        time.sleep(4.0)
        private_cluster.start()
        back = time.time()

        wait_until(lambda: all_succeeded(url), timeout=120, what="every task succeeded")
        expected = {task_id: sequences for task_id, _, _, sequences in task_rows(url)}
        wait_until(
            lambda: recorder.first_deliveries() == expected,
            timeout=60,
            what="every task's events reached the queue, in order",
        )
        after_restarts = http.get("/health")
    recorder.close()

    rows = task_rows(url)
    assert {attempts for _, _, attempts, _ in rows} == {1}  # each ran exactly once
    for process in [api, *workers, relay]:
        assert process.popen.poll() is None, (process.name, process.popen.returncode)
    assert after_restarts.status_code == 200
    for process in [api, *workers, relay]:
        assert_state_changes_logged_once_per_outage(process, outages=2)
    states = relay.events("relay_state")
    assert len(states) <= 8, states  # a handful of changes, not a line per retry

    delays = recorder.delays()
    normal = [d for occurred, d in delays if occurred < restarts[0] - 0.2]
    around = [d for occurred, d in delays if occurred >= restarts[0] - 0.2]
    print(
        f"\nevents: {len(delays)} (+{recorder.redeliveries()} redelivered);"
        f" delay before the restarts max {max(normal, default=0):.2f}s;"
        f" after the first restart max {max(around, default=0):.2f}s;"
        f" first event {min(o + d for o, d in delays if o + d > back) - back:.2f}s after the"
        " server came back;"
        f" relay states {[s['state'] for s in states]}"
    )


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False
