"""Floods for the door's limits: one API process (`assistente api`, default settings
unless told), a flooder child that hammers one endpoint over many keep-alive
connections, and a probe that times one tenant's requests meanwhile.

The flooder and the probe speak HTTP/1.1 over raw asyncio streams: far cheaper than an
HTTP library, so the machine's CPU goes to the API, as a real flood's would.

`python -m tests.bench.flood URL MODE SECONDS CONNECTIONS [KEY] [PATH]` is the flooder
child; it prints one JSON line of status counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from app.config import Settings
from tests.bench.api_server import _command, free_port
from tests.bench.harness import percentile

# What a flood hits: the anonymous endpoints, bad keys, a tenant's cheap reads, SSE opens,
# then the tenant's expensive calls (the posts last: they grow the tenant's tasks).
MODES = (
    "openapi",
    "health",
    "bad_keys",
    "cheap_gets",
    "sse_opens",
    "big_lists",
    "usage",
    "stats",
    "task_posts",
    "batch_posts",
)
BATCH_SIZE = 500  # the most one POST /api/v1/tasks/batch takes (app/api/schemas.py)
USAGE_SPAN_DAYS = 366  # the widest span GET /api/v1/usage takes (app/api/usage.py)


@contextlib.contextmanager
def served_api(dsn: str, **settings: str) -> Iterator[str]:
    """`assistente api` on a free port (APP_ENV=Staging, quiet logs, `settings` on top);
    yields its URL once /health answers 200."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="door-api-") as workdir:
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env.update(
            APP_ENV="Staging",
            DATABASE_URL=dsn,
            API_HOST="127.0.0.1",
            API_PORT=str(port),
            LOG_DIR=str(Path(workdir) / "logs"),
            LOG_LEVEL="WARNING",
            LOG_CONSOLE="false",
            **{name.upper(): value for name, value in settings.items()},
        )
        output = Path(workdir) / "output.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [*_command(), "api"], cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, output)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited at start:\n{output.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API did not answer /health:\n{output.read_text()[-3000:]}")


class Connection:
    """One keep-alive HTTP/1.1 connection that sends requests and reads whole answers."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str], *, head_only: bool = False) -> int:
        """The status of GET `path`; `head_only` reads the head and drops the connection
        (an SSE client that leaves at once)."""
        status, _ = await self.request("GET", path, headers, head_only=head_only)
        return status

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        *,
        head_only: bool = False,
        keep_stream: bool = False,
    ) -> tuple[int, bytes]:
        """The status and body of one request. `head_only` reads the head and drops the
        connection; `keep_stream` leaves a body without a length (a stream) unread and
        the connection open, so the stream stays open until `close`."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if body:
            lines += f"Content-Length: {len(body)}\r\n"
        head_out = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{lines}\r\n"
        self._writer.write(head_out.encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
        }
        if head_only:
            self.close()
            return status, b""
        if b"content-length" not in fields:
            if not keep_stream:
                self.close()
            return status, b""
        return status, await self._reader.readexactly(int(fields[b"content-length"]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(frozen=True, slots=True)
class FloodRequest:
    """One request of a flood."""

    target: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""
    head_only: bool = False


def json_body(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@functools.cache
def small_task(number: int) -> dict[str, object]:
    """A task with a small payload, of a type no handler claims (it only waits)."""
    return {"type": "door.flood", "payload": {"n": number, "note": "door flood"}}


@functools.cache
def batch_body(size: int = BATCH_SIZE) -> bytes:
    """One POST /api/v1/tasks/batch body of `size` small tasks (built once: a cheap flood)."""
    return json_body({"tasks": [small_task(n) for n in range(size)]})


@functools.cache
def usage_target() -> str:
    """GET /api/v1/usage over the widest span it takes, ending today (UTC)."""
    last = datetime.now(UTC).date()
    first = last - timedelta(days=USAGE_SPAN_DAYS - 1)
    return f"/api/v1/usage?from={first.isoformat()}&to={last.isoformat()}"


def flood_request(mode: str, key: str, path: str) -> FloodRequest:
    """One request of the `mode` flood (tenant A's `key`, A's task at `path`)."""
    keyed = {"Authorization": f"Bearer {key}"}
    posted = {**keyed, "Content-Type": "application/json"}
    if mode == "openapi":
        return FloodRequest("/openapi.json", {})
    if mode == "health":
        return FloodRequest("/health", {})
    if mode == "bad_keys":
        bad = {"Authorization": f"Bearer atk_{secrets.token_urlsafe(32)}"}
        return FloodRequest("/api/v1/tasks", bad)
    if mode == "cheap_gets":
        return FloodRequest(path, keyed)
    if mode == "sse_opens":
        streamed = {**keyed, "Accept": "text/event-stream"}
        return FloodRequest("/api/v1/events", streamed, head_only=True)
    if mode == "big_lists":
        return FloodRequest("/api/v1/tasks?pageSize=200", keyed)
    if mode == "usage":
        return FloodRequest(usage_target(), keyed)
    if mode == "stats":
        return FloodRequest("/api/v1/queue/stats", keyed)
    if mode == "task_posts":
        return FloodRequest("/api/v1/tasks", posted, "POST", json_body(small_task(0)))
    if mode == "batch_posts":
        return FloodRequest("/api/v1/tasks/batch", posted, "POST", batch_body())
    raise ValueError(f"unknown flood mode {mode!r}; one of {', '.join(MODES)}")


async def flood(
    url: str, mode: str, seconds: float, connections: int, key: str = "", path: str = ""
) -> Counter[str]:
    """Hammer `url` for `seconds` over `connections` connections; status counts."""
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def one_connection() -> None:
        connection = Connection(url)
        while time.monotonic() < deadline:
            sent = flood_request(mode, key, path)
            try:
                status, _ = await connection.request(
                    sent.method, sent.target, sent.headers, sent.body, head_only=sent.head_only
                )
                statuses[str(status)] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                statuses["error"] += 1
                connection.close()
                await asyncio.sleep(0.01)
        connection.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return statuses


class Flooder:
    """The flooder as a child process (its own CPU, as a real client would have)."""

    def __init__(
        self, url: str, mode: str, seconds: float, connections: int, key: str = "", path: str = ""
    ) -> None:
        args = [url, mode, str(seconds), str(connections), key, path]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.flood", *args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )

    def result(self, timeout: float = 60) -> dict[str, int]:
        """The status counts it printed when its time was up."""
        out, _ = self._process.communicate(timeout=timeout)
        counts: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return counts


@dataclass(frozen=True, slots=True)
class Probe:
    """One tenant's latencies (ms) and statuses while something else happened."""

    samples_ms: list[float]
    statuses: Counter[int]

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)


async def probe(
    url: str, path: str, key: str, seconds: float, interval: float = 0.05, streams: int = 2
) -> Probe:
    """GET `path` with `key` every `interval` s on each of `streams` connections for
    `seconds` (each waits for its answer: a client that is not itself flooding)."""
    samples: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {key}"}

    async def one_connection() -> None:
        connection = Connection(url)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            statuses[await connection.get(path, headers)] += 1
            elapsed = time.perf_counter() - started
            samples.append(elapsed * 1000)
            await asyncio.sleep(max(0.0, interval - elapsed))
        connection.close()

    await asyncio.gather(*(one_connection() for _ in range(streams)))
    return Probe(samples, statuses)


def main() -> None:
    url, mode, seconds, connections, *rest = sys.argv[1:]
    key, path = [*rest, "", ""][:2]
    counts = asyncio.run(flood(url, mode, float(seconds), int(connections), key, path))
    print(json.dumps(dict(counts)), flush=True)


if __name__ == "__main__":
    main()
