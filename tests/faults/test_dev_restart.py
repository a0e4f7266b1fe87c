"""`assistente dev` (API, worker and relay in one process) rides out a Postgres restart."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest

from tests.faults.conftest import PrivateCluster, Processes, free_port, wait_until
from tests.faults.recorder import Recorder

DEV_KEY = "atk_local_development_only"


def sequences(url: str) -> dict[str, list[int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT task_id::text, array_agg(sequence ORDER BY sequence) FROM task_events"
            " GROUP BY task_id"
        ).fetchall()
    return dict(rows)


def succeeded(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT count(*) FROM tasks WHERE status = 'Succeeded'").fetchone()
    except psycopg.OperationalError:
        return 0
    return int(row[0]) if row else 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dev_rides_out_a_postgres_restart(
    private_cluster: PrivateCluster, cluster_database: str, exchange: str, processes: Processes
) -> None:
    url = cluster_database
    recorder = Recorder(exchange)
    port = free_port()
    dev = processes.start("dev", "--port", str(port), DATABASE_URL=url, RELAY_EXCHANGE=exchange)
    task = {"type": "demo.sleep", "payload": {"seconds": 0.5}}
    headers = {"Authorization": f"Bearer {DEV_KEY}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as http:

        def accepts_a_batch() -> bool:
            try:
                response = http.post("/api/v1/tasks/batch", json={"tasks": [task] * 50})
            except httpx.TransportError:
                return False
            return response.status_code in {200, 201, 202}

        wait_until(accepts_a_batch, timeout=30, what="dev accepts tasks")
        time.sleep(1.0)  # running
        private_cluster.stop()
        time.sleep(4.0)
        private_cluster.start()
        wait_until(accepts_a_batch, timeout=30, what="dev accepts tasks again")
    wait_until(lambda: succeeded(url) == 100, timeout=60, what="all 100 tasks succeeded")
    expected = sequences(url)
    wait_until(
        lambda: recorder.first_deliveries() == expected,
        timeout=60,
        what="every task's events reached the queue, in order",
    )
    recorder.close()
    assert dev.popen.poll() is None, dev.stderr()
    # One line per pool (API, worker, relay) when it went, one when it came back.
    unreachable = dev.events("database_unreachable")
    assert 1 <= len(unreachable) <= 3, unreachable
    assert len(dev.events("database_reconnected")) == len(unreachable)
