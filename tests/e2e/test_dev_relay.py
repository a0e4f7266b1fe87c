"""`assistente dev` started before RabbitMQ answers still publishes once it does: its
relay waits for the broker instead of being left out."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.test_health import free_port
from tests.e2e.test_cli import clean_env
from tests.e2e.test_cli_errors import FORWARDER, free_port_number
from tests.e2e.test_dev_worker import DEV_KEY, start_dev, wait_for_status


def outbox_size(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM pgmq.q_outbox").fetchone()
    return int(row[0]) if row else -1


@pytest.mark.slow
def test_dev_started_before_the_broker_publishes_once_it_answers(
    tmp_path: Path, database_url: str
) -> None:
    broker_port = free_port_number()
    # RabbitMQ "starts" 8 s after dev: a forwarder to the real broker listens late.
    forwarder = subprocess.Popen(
        [sys.executable, "-c", FORWARDER, str(broker_port), "8", "5672"],
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        tmp_path,
        DATABASE_URL=database_url,
        DEMO_TASKS_ENABLED="true",
        AMQP_URL=f"amqp://guest:guest@127.0.0.1:{broker_port}/%2F",
        RELAY_EXCHANGE=f"test.dev.{uuid.uuid4().hex[:8]}",
    )
    process = start_dev(tmp_path, env, port)
    try:
        task = httpx.post(
            f"{base}/api/v1/tasks", json={"type": "demo.noop"}, headers=DEV_KEY, timeout=5
        )
        assert task.status_code == 202, task.text
        assert wait_for_status(base, task.json()["id"], "Succeeded", 30) == "Succeeded"
        assert outbox_size(database_url) > 0  # the broker is not there yet: events wait
        deadline = time.monotonic() + 30
        while outbox_size(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert outbox_size(database_url) == 0  # published once the broker answered
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        forwarder.kill()
        forwarder.wait()
    assert process.returncode == 0, output
    assert "the relay keeps trying" in output
