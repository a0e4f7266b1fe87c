"""The `assistente` console script as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.test_health import free_port

CLI = [sys.executable, "-m", "app.cli"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV", "AMQP_URL"}}
    return {**env, "LOG_DIR": str(tmp_path / "logs"), **extra}


@pytest.mark.parametrize("command", ["migrate", "api", "worker", "relay", "dev"])
def test_every_subcommand_explains_itself(command: str) -> None:
    result = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "Usage: " in result.stdout
    if command in {"api", "dev"}:
        assert "--host" in result.stdout and "--port" in result.stdout


def test_a_bad_setting_stops_the_command_with_a_clear_message(tmp_path: Path) -> None:
    env = clean_env(tmp_path, APP_ENV="Prod")
    result = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "APP_ENV" in result.stderr and "'Prod'" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_without_a_database_url_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "migrate"], env=clean_env(tmp_path), capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_production_refuses_to_start_without_a_database(tmp_path: Path) -> None:
    env = clean_env(tmp_path, APP_ENV="Production", AMQP_URL="amqp://app:pw@mq:5672/%2F")
    result = subprocess.run([*CLI, "api"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "DATABASE_URL is required" in result.stderr


def assert_dev_worker_runs_tasks(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('e2e') RETURNING id").fetchone()
        assert tenant is not None
        task = conn.execute(
            "INSERT INTO tasks (tenant_id, type) VALUES (%s, 'demo.noop') RETURNING id",
            (tenant[0],),
        ).fetchone()
        assert task is not None
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline and status != "Succeeded":
            row = conn.execute(
                "SELECT status::text FROM tasks WHERE id = %s", (task[0],)
            ).fetchone()
            status = row[0] if row else None
            time.sleep(0.1)
        assert status == "Succeeded"


@pytest.mark.slow
def test_dev_without_database_url_serves_health_within_15_seconds(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path, EMBEDDED_DB_DIR=str(tmp_path / "pg"))
    started = time.monotonic()
    process = subprocess.Popen(
        [*CLI, "dev", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        while time.monotonic() - started < 15 and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        assert status == 200, f"no healthy answer in {elapsed:.1f}s"
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/tasks",
            json={"type": "demo.noop"},
            headers={"Authorization": "Bearer atk_local_development_only"},
            timeout=5,
        )
        assert created.status_code == 202, created.text
        assert_dev_worker_runs_tasks(f"postgresql://postgres:@/postgres?host={tmp_path / 'pg'}")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "starting embedded Postgres" in output
    assert (tmp_path / "logs" / "dev.log").exists()


def test_a_worker_for_openai_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        APP_ENV="Production",
        DATABASE_URL="postgresql://app:pw@127.0.0.1:1/none",
        AMQP_URL="amqp://app:pw@mq:5672/%2F",
    )
    result = subprocess.run([*CLI, "worker"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "AI_API_KEY is required" in result.stderr
