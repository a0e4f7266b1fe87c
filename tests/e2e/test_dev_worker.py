"""`assistente dev` keeps serving when a task kills its worker: the worker is a child
that dev starts again, and the crashing task ends dead-lettered after its attempts."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_health import free_port
from tests.e2e.test_cli import CLI, clean_env

DEV_KEY = {"Authorization": "Bearer atk_local_development_only"}


def wait_for_status(base: str, task_id: str, wanted: str, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/api/v1/tasks/{task_id}", headers=DEV_KEY, timeout=5)
        assert response.status_code == 200, response.text  # the API answers throughout
        status = response.json()["status"]
        if status == wanted:
            return status
        time.sleep(0.2)
    return status


def start_dev(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`assistente dev` on `port`, once its /health answers 200 (within 20 s)."""
    process = subprocess.Popen(
        [*CLI, "dev", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None
        time.sleep(0.2)
    return process


@pytest.mark.slow
def test_a_crashing_task_restarts_the_dev_worker_while_the_api_keeps_answering(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        tmp_path,
        DATABASE_URL=database_url,
        DEMO_TASKS_ENABLED="true",
        WORKER_LEASE_SECONDS="1",
        AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2F",  # no relay: not what this is about
    )
    process = start_dev(tmp_path, env, port)
    try:
        crash = httpx.post(
            f"{base}/api/v1/tasks",
            json={"type": "demo.crash", "maxAttempts": 2},
            headers=DEV_KEY,
            timeout=5,
        )
        assert crash.status_code == 202, crash.text
        started = time.monotonic()
        assert wait_for_status(base, crash.json()["id"], "DeadLetter", 45) == "DeadLetter"
        dead_lettered_after = time.monotonic() - started
        noop = httpx.post(
            f"{base}/api/v1/tasks", json={"type": "demo.noop"}, headers=DEV_KEY, timeout=5
        )
        assert noop.status_code == 202, noop.text
        assert wait_for_status(base, noop.json()["id"], "Succeeded", 30) == "Succeeded"
        assert process.poll() is None, "dev died with its worker"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    restarts = (tmp_path / "logs" / "dev.log").read_text().count('"child_restarting"')
    assert restarts == 2, output  # one line per crash: two attempts, two deaths
    print(f"dead-lettered after {dead_lettered_after:.1f}s, {restarts} worker restarts")
