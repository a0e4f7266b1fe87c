"""What a new user sees when something is in the way: one line naming the setting, an
exit code, no traceback (each through the real console script in a subprocess)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import CLI, clean_env

ASSISTENTE = str(Path(sys.executable).parent / "assistente")


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[tuple[str, int]]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield "127.0.0.1", listener.getsockname()[1]


@pytest.mark.parametrize("command", ["api", "dev"])
def test_a_port_in_use_is_one_line_naming_api_port_before_anything_is_announced(
    tmp_path: Path, busy_port: tuple[str, int], database_url: str, command: str
) -> None:
    env = clean_env(tmp_path, DATABASE_URL=database_url)
    result = run([command, "--port", str(busy_port[1])], env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "API_PORT" in line and str(busy_port[1]) in line and "in use" in line
    assert "API on" not in result.stdout


def test_an_unreachable_database_for_migrate_is_one_line_naming_database_url(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path, DATABASE_URL="postgresql://app:s3cret-pw@127.0.0.1:1/app")
    result = run(["migrate"], env)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "DATABASE_URL=postgresql://app:***@127.0.0.1:1/app" in line
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_migrate_wait_keeps_trying_an_unreachable_database_for_that_long(
    tmp_path: Path,
) -> None:
    env = clean_env(
        tmp_path, DATABASE_URL="postgresql://app:s3cret-pw@127.0.0.1:1/app", LOG_CONSOLE="false"
    )
    started = time.monotonic()
    result = run(["migrate", "--wait", "3"], env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "DATABASE_URL=postgresql://app:***@" in one_line(result.stderr)
    assert 2.5 <= elapsed < 15, elapsed


@pytest.mark.slow
def test_migrate_wait_succeeds_once_the_database_comes_up(
    tmp_path: Path, database_url: str
) -> None:
    # A TCP forwarder that starts listening 2 s late stands in for a starting database.
    port = free_port_number()
    forwarder = subprocess.Popen(
        [sys.executable, "-c", FORWARDER, str(port), "2"], stdout=subprocess.DEVNULL
    )
    try:
        late_url = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
        assert late_url != database_url
        result = run(["migrate", "--wait", "20"], clean_env(tmp_path, DATABASE_URL=late_url))
    finally:
        forwarder.kill()
        forwarder.wait()
    assert result.returncode == 0, result.stderr
    assert "schema up to date" in result.stdout


def free_port_number() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FORWARDER = """
import socket, sys, threading, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
upstream_port = int(sys.argv[3]) if len(sys.argv) > 3 else 5432
time.sleep(delay)
server = socket.create_server(("127.0.0.1", port))
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        b.close()
while True:
    client, _ = server.accept()
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
"""


def test_an_unreachable_broker_for_events_tail_is_one_line_naming_amqp_url(
    tmp_path: Path,
) -> None:
    env = clean_env(tmp_path, AMQP_URL="amqp://guest:s3cret-pw@127.0.0.1:1/%2F")
    result = run(["events", "tail"], env)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "AMQP_URL=amqp://guest:***@127.0.0.1:1/%2F" in line
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_an_unwritable_log_dir_is_one_line_naming_log_dir_with_exit_code_2(
    tmp_path: Path,
) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    env = clean_env(tmp_path, LOG_DIR=str(tmp_path / "file.txt" / "logs"))
    result = run(["migrate"], env)
    assert result.returncode == 2
    assert "LOG_DIR" in one_line(result.stderr)


def test_worker_app_finds_a_package_in_the_current_folder_without_pythonpath(
    tmp_path: Path, database_url: str
) -> None:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from app.application.handlers import HandlerRegistry\n"
        "registry = HandlerRegistry()\n\n"
        "@registry.handler('mypkg.hello')\n"
        "async def hello(ctx):\n"
        "    return {'hello': 'world'}\n"
    )
    env = clean_env(tmp_path, DATABASE_URL=database_url)
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [ASSISTENTE, "worker", "--app", "mypkg.tasks:registry", "--burst"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_dev_help_names_the_relay(tmp_path: Path) -> None:
    result = run(["dev", "--help"], clean_env(tmp_path))
    assert result.returncode == 0
    assert "relay" in result.stdout and "RabbitMQ" in result.stdout
