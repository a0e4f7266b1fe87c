"""500 clients connecting at the same moment: the listen backlog (API_BACKLOG) holds them.

`assistente api` runs as a user starts it. While it is stopped (SIGSTOP) it accepts
nothing, so every connection the kernel completes waits in the listen queue, and a
SYN past the queue's length is dropped, to be sent again by the client a second
later (Linux's initial retransmission timeout). A burst that fits the backlog is
therefore connected at once; one that overflows it is not. Then the server
resumes and every connection gets its answer.
"""

from __future__ import annotations

import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_health import free_port
from tests.e2e.test_cli import CLI, clean_env

CLIENTS = 500
# Well under the 1 s a dropped SYN waits for its retransmission.
CONNECT_WITHIN = 0.5
REQUEST = b"GET /no-such-page HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


def start_api(
    tmp_path: Path, database_url: str, **settings: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = clean_env(tmp_path, DATABASE_URL=database_url)
    env.pop("API_BACKLOG", None)  # the default unless the test sets it
    env.update(settings)
    process = subprocess.Popen(
        [*CLI, "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return process, port
    process.kill()
    raise AssertionError("the API did not listen within 30 s")


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes to stop and, whatever happens, resume and end after the test."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(timeout=15)


def connect_all_at_once(port: int) -> tuple[list[socket.socket], int]:
    """Start CLIENTS connections without waiting on any; how many completed in time."""
    sockets = []
    for _ in range(CLIENTS):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        sockets.append(client)
    with selectors.DefaultSelector() as selector:
        for client in sockets:
            selector.register(client, selectors.EVENT_WRITE, data=client)
        connected = 0
        deadline = time.monotonic() + CONNECT_WITHIN
        while connected < CLIENTS and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                selector.unregister(key.fileobj)
                assert key.data.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                connected += 1
    return sockets, connected


def answer_all(sockets: list[socket.socket], within: float) -> int:
    """Send one request on every socket; how many got an HTTP answer in time."""
    answers = {client: b"" for client in sockets}
    with selectors.DefaultSelector() as selector:
        for client in sockets:
            client.setblocking(True)
            client.sendall(REQUEST)
            client.setblocking(False)
            selector.register(client, selectors.EVENT_READ, data=client)
        deadline = time.monotonic() + within
        open_ = len(sockets)
        while open_ and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                client = key.data
                chunk = client.recv(65536)
                answers[client] += chunk
                if not chunk:
                    selector.unregister(client)
                    open_ -= 1
    return sum(answer.startswith(b"HTTP/1.1 ") for answer in answers.values())


def test_500_clients_at_once_all_connect_at_once_and_are_answered(
    tmp_path: Path, database_url: str, stopped: list[subprocess.Popen[bytes]]
) -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert somaxconn >= CLIENTS, "net.core.somaxconn caps every listen backlog: raise it"
    process, port = start_api(tmp_path, database_url)  # API_BACKLOG left at its default
    stopped.append(process)
    process.send_signal(signal.SIGSTOP)
    sockets, connected = connect_all_at_once(port)
    try:
        assert connected == CLIENTS
        process.send_signal(signal.SIGCONT)
        assert answer_all(sockets, within=30) == CLIENTS
    finally:
        for client in sockets:
            client.close()


def test_a_backlog_of_100_drops_most_of_the_same_burst(
    tmp_path: Path, database_url: str, stopped: list[subprocess.Popen[bytes]]
) -> None:
    # Hypercorn's own default: what the setting is for.
    process, port = start_api(tmp_path, database_url, API_BACKLOG="100")
    stopped.append(process)
    process.send_signal(signal.SIGSTOP)
    sockets, connected = connect_all_at_once(port)
    for client in sockets:
        client.close()
    # The queue holds backlog + 1 connections; every other SYN waits for a resend.
    assert 100 <= connected <= 101
