"""Fault fixtures: a private Postgres cluster the test may restart, and the real
processes (`assistente api|worker|relay`) started as subprocesses against it.

The shared servers are never stopped: restarts happen on a cluster of the
session's own (pg_createcluster), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.adapters.postgres.migrator import migrate
from tests.relay.conftest import AMQP_URL, bind, exchange, rabbitmq_available

__all__ = ["bind", "exchange", "rabbitmq_available"]  # relay fixtures the fault tests reuse

ROOT = Path(__file__).resolve().parents[2]
ASSISTENTE = str(ROOT / ".venv" / "bin" / "assistente")
PG_VERSION = "15"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ctl(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)


@dataclass
class PrivateCluster:
    """A Postgres cluster of this test session's own, on its own port."""

    name: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def restart(self) -> None:
        """What a crash and restart looks like to clients: every session dies at once."""
        _ctl("pg_ctlcluster", PG_VERSION, self.name, "restart", "-m", "immediate")

    def stop(self) -> None:
        _ctl("pg_ctlcluster", PG_VERSION, self.name, "stop", "-m", "immediate")

    def start(self) -> None:
        _ctl("pg_ctlcluster", PG_VERSION, self.name, "start")

    def create_database(self) -> str:
        """A new migrated database; returns its URL."""
        name = f"fault_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a generated name, no user input
        asyncio.run(migrate(self.url(name)))
        return self.url(name)


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    name = f"faults{os.getpid()}"
    port = free_port()
    _ctl("pg_createcluster", PG_VERSION, name, "--port", str(port), "--", "--auth=trust")
    try:
        # Quick to restart: no fsync, a small checkpoint to replay.
        _ctl("pg_conftool", PG_VERSION, name, "set", "fsync", "off")
        _ctl("pg_conftool", PG_VERSION, name, "set", "max_connections", "200")
        _ctl("pg_ctlcluster", PG_VERSION, name, "start")
        yield PrivateCluster(name, port)
    finally:
        subprocess.run(
            ["pg_dropcluster", PG_VERSION, name, "--stop"], capture_output=True, timeout=120
        )


@pytest.fixture
def cluster_database(private_cluster: PrivateCluster) -> str:
    """The URL of a fresh migrated database on the private cluster."""
    return private_cluster.create_database()


@dataclass
class Process:
    """One `assistente` subprocess and its JSON log."""

    name: str
    popen: subprocess.Popen[bytes]
    log_dir: Path
    kind: str

    def logs(self) -> list[dict[str, Any]]:
        path = self.log_dir / f"{self.kind}.log"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries

    def stderr(self) -> str:
        return (self.log_dir / "stderr.txt").read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs() if entry.get("event") == name]


@dataclass
class Processes:
    """Starts `assistente` subprocesses; stops them (SIGTERM, then SIGKILL) at teardown."""

    tmp_path: Path
    started: list[Process] = field(default_factory=list)

    def start(self, kind: str, *args: str, name: str | None = None, **env: str) -> Process:
        name = name or f"{kind}{len(self.started)}"
        log_dir = self.tmp_path / name
        log_dir.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            "AMQP_URL": AMQP_URL,
            "LOG_DIR": str(log_dir),
            "LOG_CONSOLE": "false",
            "APP_ENV": "Development",
            **env,
        }
        with open(log_dir / "stderr.txt", "wb") as stderr:  # the child keeps its own copy
            popen = subprocess.Popen(
                [ASSISTENTE, kind, *args],
                env=environment,
                cwd=self.tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        process = Process(name, popen, log_dir, kind)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.started:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop_all()


def wait_until(condition: Any, *, timeout: float, every: float = 0.2, what: str = "") -> None:
    """Poll `condition()` until it is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    pytest.fail(f"not within {timeout}s: {what}")
