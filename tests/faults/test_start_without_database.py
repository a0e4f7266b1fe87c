"""A worker and a relay started while Postgres is down wait for it (one log line
saying so) instead of exiting after the pool's 30 s timeout, then do their work."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.faults.conftest import PrivateCluster, Processes, wait_until
from tests.faults.recorder import Recorder

# Longer than the 30 s a pool used to wait at start before the process gave up.
DOWN_SECONDS = 35


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_worker_and_relay_started_without_a_database_wait_for_it(
    private_cluster: PrivateCluster, cluster_database: str, exchange: str, processes: Processes
) -> None:
    url = cluster_database
    recorder = Recorder(exchange)
    env = {"DATABASE_URL": url, "RELAY_EXCHANGE": exchange}
    private_cluster.stop()
    try:
        worker = processes.start("worker", **env)
        relay = processes.start("relay", **env)
        time.sleep(DOWN_SECONDS)
        for process in (worker, relay):
            assert process.popen.poll() is None, (process.name, process.stderr())
            [waiting] = process.events("database_unreachable")  # one line, not one per try
            assert waiting["error_type"] == "OperationalError" and waiting["retry_in"] > 0
    finally:
        private_cluster.start()
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('late') RETURNING id").fetchone()
        assert tenant is not None
        row = conn.execute(
            "INSERT INTO tasks (tenant_id, type) VALUES (%s, 'demo.noop') RETURNING id::text",
            (tenant[0],),
        ).fetchone()
        assert row is not None

        def succeeded() -> bool:
            status = conn.execute("SELECT status::text FROM tasks WHERE id = %s", row).fetchone()
            return status == ("Succeeded",)

        wait_until(succeeded, timeout=30, what="the task ran once the database came")
        sequences = conn.execute(
            "SELECT array_agg(sequence ORDER BY sequence) FROM task_events WHERE task_id = %s", row
        ).fetchone()
        assert sequences is not None
    wait_until(
        lambda: recorder.first_deliveries().get(row[0]) == sequences[0],
        timeout=30,
        what="its events reached the exchange",
    )
    recorder.close()
    for process in (worker, relay):
        assert len(process.events("database_reconnected")) == 1, process.name
