"""The processes the API benchmark drives: the real API (`assistente api`) with an API
key to call it and the peak RSS the kernel accounted to it, and hey, the HTTP load
generator, whose output becomes a `HeyRun`."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from app.application.auth import create_tenant
from app.bootstrap import running_services, tenant_repository
from app.config import Settings, load_settings
from tests.bench.harness import ROOT, percentile


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def issue_api_key(dsn: str, tenant: str = "bench-api") -> str:
    """A tenant and its first API key, created as `assistente tenants create` does."""

    async def create() -> str:
        settings = load_settings(database_url=dsn, log_level="WARNING", log_console=False)
        async with running_services(settings, process="bench") as services:
            issued = await create_tenant(tenant, tenants=tenant_repository(services))
        return issued.key

    return asyncio.run(create())


def _command() -> list[str]:
    script = Path(sys.executable).with_name("assistente")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def _status_value(pid: int, field: str) -> float | None:
    """A `VmRSS`-like line of /proc/<pid>/status, in MB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return None


class ApiServer:
    """`assistente api` on a free loopback port, with default settings (APP_ENV=Staging)
    except the per-key rate limit (off: one key sends the whole load) and quiet logs.

    Hypercorn serves the app inside that one process (no worker processes), so the
    child's own peak RSS is the API's.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.peak_rss_mb: float | None = None  # set when the process is stopped
        self.cpu_seconds: float | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="bench-api-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def rss_mb(self) -> float | None:
        """Resident memory now (VmRSS)."""
        return _status_value(self.pid, "VmRSS")

    def high_water_mb(self) -> float | None:
        """Peak resident memory so far (VmHWM)."""
        return _status_value(self.pid, "VmHWM")

    def check_alive(self) -> None:
        """Raise, with what it printed, if the API process has ended."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(
                f"the API exited under load ({self._process.returncode}):\n{self.output()}"
            )

    def start(self, timeout: float = 30.0) -> None:
        workdir = Path(self._dir.name)
        # Only these settings: none inherited from the caller's environment.
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env.update(
            {
                "APP_ENV": "Staging",
                "DATABASE_URL": self.dsn,
                "API_HOST": "127.0.0.1",
                "API_PORT": str(self.port),
                "LOG_DIR": str(workdir / "logs"),
                "LOG_LEVEL": "WARNING",
                "LOG_CONSOLE": "false",
                # 0 turns the per-key limit off; it would answer 429 past 200/s otherwise.
                "API_RATE_LIMIT_PER_SECOND": "0",
                "API_MAX_IN_FLIGHT_PER_KEY": "0",
                "API_TASKS_PER_SECOND": "0",
                "API_SIGNALS_PER_SECOND": "0",
                # This tree's code, even when the `assistente` script belongs to a shared
                # virtualenv installed (editable) from another checkout.
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
                ),
            }
        )
        output = (workdir / "output.txt").open("wb")
        # cwd is the scratch folder, so a developer's .env cannot change the settings.
        self._process = subprocess.Popen(
            [*_command(), "api"], cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the API exited at start ({self._process.returncode}):\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"the API did not answer /health within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (in-flight requests finish), then reap the process with wait4 (its
        CPU time). The peak RSS is its VmHWM read just before: wait4's ru_maxrss would
        include this benchmark process's own peak, which Linux carries across exec."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        self.peak_rss_mb = self.high_water_mb()
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime

    def output(self) -> str:
        """What the process printed (the tail): for error messages."""
        path = Path(self._dir.name) / "output.txt"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._dir.cleanup()


# -- CPU time --------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """User + system CPU time of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU time of our finished children so far (the hey processes; the API is reaped
    only at the end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- hey -------------------------------------------------------------------------------


def hey_path() -> str:
    """hey, installed from Debian's package when missing and we may (root with apt)."""
    found = shutil.which("hey")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("  hey is not installed: apt-get install -y hey", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "hey"]
        if subprocess.run(install, capture_output=True, env=env, check=False).returncode:
            # The package lists may be missing or stale: refresh them once and retry.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
            subprocess.run(install, capture_output=True, env=env, check=False)
        found = shutil.which("hey")
    if not found:
        raise RuntimeError(
            "the API benchmark needs `hey`, an HTTP load generator (Debian package `hey`), "
            "and could not install it: run `apt-get install -y hey` as root, then again"
        )
    return found


@dataclass(frozen=True, slots=True)
class HeyRun:
    """What one hey process saw: its wall time, status codes, transport errors, and its
    latencies, either each one (`-o csv`) or as hey's own percentiles (its summary)."""

    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]
    percentiles_ms: dict[int, float]
    samples_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if 200 <= code < 300)

    @property
    def failed(self) -> int:
        """Answers other than 2xx, and requests that got no answer at all."""
        answered = sum(self.statuses.values())
        return answered - self.ok + sum(self.errors.values())


def parse_summary(output: str) -> HeyRun:
    """hey's default output. Its percentiles skip the ones it has too few samples for;
    below 100 samples the nearest-rank p99 is the slowest, which it does print."""
    total = re.search(r"Total:\s+([\d.]+) secs", output)
    if total is None:
        raise RuntimeError(f"hey printed no summary:\n{output}")
    summary, _, error_part = output.partition("Error distribution:")
    statuses = {
        int(code): int(n)
        for code, n in re.findall(r"^\s*\[(\d{3})\]\s+(\d+) responses", summary, re.M)
    }
    errors: Counter[str] = Counter()
    for n, message in re.findall(r"^\s*\[(\d+)\]\s+(.+)$", error_part, re.M):
        errors[message.strip()] += int(n)
    percentiles = {
        int(pct): float(secs) * 1000
        for pct, secs in re.findall(r"^\s*(\d+)% in ([\d.]+) secs", summary, re.M)
        if int(pct) > 0  # hey prints "0% in 0.0000 secs" for a percentile it skipped
    }
    slowest = re.search(r"Slowest:\s+([\d.]+) secs", summary)
    if statuses and 99 not in percentiles and slowest is not None:
        percentiles[99] = float(slowest.group(1)) * 1000
    return HeyRun(float(total.group(1)), statuses, dict(errors), percentiles)


def parse_csv(output: str) -> HeyRun:
    """hey's `-o csv`: one line per answered request (requests that got no answer are
    left out, so the caller checks the rate it asked for)."""
    rows = list(csv.DictReader(io.StringIO(output.strip())))
    samples = [float(row["response-time"]) * 1000 for row in rows]
    starts = [float(row["offset"]) for row in rows]
    ends = [start + sample / 1000 for start, sample in zip(starts, samples, strict=True)]
    statuses = Counter(int(row["status-code"]) for row in rows)
    seconds = max(ends) - min(starts) if rows else 0.0
    return HeyRun(seconds, dict(statuses), {}, percentiles_of(samples), samples)


def percentiles_of(samples_ms: list[float]) -> dict[int, float]:
    return {pct: percentile(samples_ms, pct) for pct in (50, 99)} if samples_ms else {}


def hey_command(hey: str, url: str, key: str, *args: str) -> list[str]:
    return [
        hey, "-cpus", "1", "-m", "POST", "-T", "application/json",
        "-H", f"Authorization: Bearer {key}", *args, url,
    ]  # fmt: skip


def run_hey(command: list[str], seconds: float) -> HeyRun:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"hey failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_csv(done.stdout) if "-o" in command else parse_summary(done.stdout)
