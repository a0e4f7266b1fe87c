"""The embedded Postgres of `assistente dev` (no DATABASE_URL): other commands find it,
it stops with dev however dev ends, and one left behind is noticed and reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.adapters.postgres.embedded import MISSING_EXTRA, pid_alive, postmaster
from tests.api.test_health import free_port
from tests.e2e.test_cli import CLI, clean_env

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "pg"
    yield folder
    # Whatever a failing run left running, stop it (fast shutdown).
    running = postmaster(folder)
    if running is not None:
        os.kill(running[0], signal.SIGINT)
        wait_until(lambda: not pid_alive(running[0]), 30)


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


def start_dev(tmp_path: Path, data_dir: Path) -> subprocess.Popen[str]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "dev", "--port", str(port)],
        env=clean_env(tmp_path, EMBEDDED_DB_DIR=str(data_dir)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def healthy() -> bool:
        assert process.poll() is None, process.communicate()[0]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    assert wait_until(healthy, 30), "dev did not serve /health in 30 s"
    return process


def stop_dev(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def test_tenants_create_finds_the_embedded_database_dev_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    process = start_dev(tmp_path, data_dir)
    try:
        env = clean_env(tmp_path, EMBEDDED_DB_DIR=str(data_dir))
        created = subprocess.run(
            [*CLI, "tenants", "create", "acme"], env=env, capture_output=True, text=True
        )
        migrated = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True)
    finally:
        output = stop_dev(process)
    assert created.returncode == 0, created.stderr
    assert "tenant acme created" in created.stdout
    assert migrated.returncode == 0, migrated.stderr
    assert "embedded Postgres at postgresql://postgres:@/postgres?host=" in output


def test_the_embedded_postgres_stops_when_dev_is_killed(tmp_path: Path, data_dir: Path) -> None:
    process = start_dev(tmp_path, data_dir)
    running = postmaster(data_dir)
    assert running is not None
    started = time.monotonic()
    process.kill()
    process.communicate(timeout=30)
    assert wait_until(lambda: not pid_alive(running[0]), 15), "embedded Postgres still runs"
    print(f"embedded Postgres stopped {time.monotonic() - started:.1f}s after dev was killed")


def test_a_postgres_left_by_a_killed_process_is_reused_and_stops_with_dev(
    tmp_path: Path, data_dir: Path
) -> None:
    # What a dev killed before this guard existed left: a running server, a dead holder.
    left = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys, pgserver; pgserver.get_server(sys.argv[1]);"
            " os.kill(os.getpid(), signal.SIGKILL)",
            str(data_dir),
        ],
        check=False,
    )
    assert left.returncode == -signal.SIGKILL
    leftover = postmaster(data_dir)
    assert leftover is not None
    process = start_dev(tmp_path, data_dir)
    output = stop_dev(process)
    assert f"found an embedded Postgres (pid {leftover[0]}) left running" in output
    assert wait_until(lambda: not pid_alive(leftover[0]), 15), "left-over Postgres still runs"


def test_dev_without_pgserver_names_the_extra_to_install(tmp_path: Path) -> None:
    hide_pgserver = "import sys; sys.modules['pgserver'] = None; from app.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", hide_pgserver, "dev", "--port", str(free_port())],
        env=clean_env(tmp_path, EMBEDDED_DB_DIR=str(tmp_path / "pg")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {MISSING_EXTRA}"
    assert MISSING_EXTRA == (
        "embedded Postgres needs the extra: pip install 'assistente-tasks[embedded]'"
        " (or set DATABASE_URL)"
    )
