"""What every benchmark shares: scratch databases, child processes with their peak
RSS, statistics over repeated runs, the machine's description, and the report."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RESULTS_DIR = ROOT / "bench-results"


def dsn_for(database: str) -> str:
    """ADMIN_DSN pointed at another database."""
    return ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"


@contextlib.contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """A new empty database for one run, dropped afterwards: runs never share rows."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield dsn_for(name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(slots=True)
class ChildResult:
    """What a benchmark child printed (its last line, JSON) and its peak RSS."""

    output: dict[str, Any]
    peak_rss_mb: float
    seconds: float
    cpu_seconds: float  # user + system time of the child itself


def start_child(module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def high_water_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident memory since it started its program (VmHWM).

    Not wait4's ru_maxrss: Linux carries the forking parent's peak over into the
    child's across exec, so a child of a big benchmark process would look as big.
    """
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def poll_child(child: subprocess.Popen[str], started: float | None = None) -> ChildResult | None:
    """The child's result if it has exited, else None. Its CPU time comes from the
    kernel's own accounting (wait4), so never reap it any other way; its peak RSS is
    what it reported (`peak_rss_mb`, its VmHWM), see `high_water_mb`."""
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if not pid:
        return None
    child.returncode = os.waitstatus_to_exitcode(status)
    stdout = child.stdout.read() if child.stdout else ""
    stderr = child.stderr.read() if child.stderr else ""
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child {child.args} failed ({child.returncode}):\n{stderr}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    output = json.loads(lines[-1]) if lines else {}
    return ChildResult(
        output=output,
        peak_rss_mb=float(output.get("peak_rss_mb", "nan")),
        seconds=time.monotonic() - started if started is not None else 0.0,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )


def wait_child(child: subprocess.Popen[str], timeout: float = 600.0) -> ChildResult:
    """Wait for a child to exit and return what it printed (a JSON line)."""
    started = time.monotonic()
    while (result := poll_child(child, started)) is None:
        if time.monotonic() - started > timeout:
            child.kill()
            raise TimeoutError(f"benchmark child {child.args} ran over {timeout} s")
        time.sleep(0.02)
    return result


def run_child(module: str, *args: str, timeout: float = 600.0) -> ChildResult:
    return wait_child(start_child(module, *args), timeout)


# -- statistics ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and spread of repeated measurements."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(statistics.median(values), min(values), max(values), len(values))

    @property
    def spread_pct(self) -> float:
        """(max - min) / median: how much the runs disagreed."""
        return 100.0 * (self.high - self.low) / self.median if self.median else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": self.runs,
            "spread_pct": round(self.spread_pct, 1),
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# -- the report ------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One line of the results table."""

    section: str
    metric: str
    value: str
    target: str = ""
    verdict: str = ""  # "met", "missed" or "" when there is no target


@dataclass(slots=True)
class Report:
    """Every figure of a run, printed as a table and saved as JSON."""

    parameters: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(
        self, section: str, metric: str, value: str, target: str = "", met: bool | None = None
    ) -> None:
        verdict = "" if met is None else ("met" if met else "MISSED")
        row = Row(section, metric, value, target, verdict)
        self.rows.append(row)
        print(
            f"  [{section}] {metric}: {value}"
            + (f"  (target {target}: {verdict})" if target else ""),
            flush=True,
        )

    def markdown(self) -> str:
        lines = [
            "| Benchmark | Figure | Measured | Target | |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.section} | {row.metric} | {row.value} | {row.target} | {row.verdict} |"
            )
        return "\n".join(lines)

    def save(self, machine: dict[str, Any], name: str) -> Path:
        RESULTS_DIR.mkdir(exist_ok=True)
        document = {
            "machine": machine,
            "parameters": self.parameters,
            "rows": [dataclasses.asdict(row) for row in self.rows],
            "data": self.data,
        }
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        (RESULTS_DIR / f"{name}.md").write_text(self.markdown() + "\n")
        return path


# -- the machine -----------------------------------------------------------------------

PG_SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "max_connections",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "max_wal_size",
    "checkpoint_timeout",
    "autovacuum",
    "jit",
)
PACKAGES = (
    "psycopg",
    "psycopg-pool",
    "pgmq",
    "pika",
    "quart",
    "hypercorn",
    "pgqueuer",
    "asyncpg",
    "procrastinate",
    "dbos",
    "chancy",
    "celery",
    "kombu",
    "uvloop",
)
# Oban runs under its own Python (>= 3.12); tests/bench/contenders/oban_peer.py reports
# its version in each run's output.


def machine_description() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with psycopg.connect(ADMIN_DSN) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in PG_SETTINGS
        }
    versions = {}
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": settings,
        "packages": versions,
    }


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


# -- CPU over the timed window ---------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _matching_pids(needles: Sequence[str]) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            pids.append(int(entry.name))
    return pids


class CpuSampler:
    """Samples the CPU time of the Postgres backends serving one database (found by
    their process title, which names the database) and of any other processes named,
    so the CPU a contender costs the server can be cut to its timed window."""

    def __init__(self, database: str, *, also: Sequence[str] = (), interval: float = 0.02):
        self._needles = [f" {database} ", *also]
        self._interval = interval
        self._samples: list[tuple[float, dict[int, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pids: list[int] = []
        refreshed = 0.0
        while not self._stop.is_set():
            now = time.time()
            if now - refreshed > 0.1:
                pids = _matching_pids(self._needles)
                refreshed = now
            sample = {pid: cpu for pid in pids if (cpu := _cpu_seconds(pid)) is not None}
            self._samples.append((now, sample))
            self._stop.wait(self._interval)

    def window(self, first: float, end: float) -> float:
        """CPU seconds the sampled processes used between two wall-clock instants."""
        before: dict[int, float] = {}
        after: dict[int, float] = {}
        for at, sample in self._samples:
            for pid, cpu in sample.items():
                if at <= first:
                    before[pid] = cpu
                if at <= end:
                    after[pid] = cpu
        # A process first seen inside the window counts from zero: it started there.
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# -- what a contender child shares -----------------------------------------------------


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """`--set key=value` pairs, numbers as numbers."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        value: Any = raw
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
        settings[key.strip()] = value
    return settings


@dataclass(slots=True)
class StatementSizes:
    """How many tasks each claim (or finish) statement carried, in a contender child."""

    statements: int = 0
    items: int = 0
    largest: int = 0

    def add(self, items: int) -> None:
        if items:
            self.statements += 1
            self.items += items
            self.largest = max(self.largest, items)

    def as_dict(self) -> dict[str, float]:
        mean = self.items / self.statements if self.statements else 0.0
        return {"statements": self.statements, "mean": round(mean, 1), "max": self.largest}


def count_sizes(
    owner: Any, name: str, sizes: StatementSizes, *, argument: int | None = None
) -> None:
    """Wrap the coroutine method `owner.name` so each call adds how many tasks its
    statement carried to `sizes`: the length of the list it returns, or of its
    positional `argument` (counting `self` when `owner` is a class)."""
    method = getattr(owner, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        if argument is not None:
            sizes.add(len(args[argument]))
        result = await method(*args, **kwargs)
        if argument is None:
            sizes.add(len(result))
        return result

    setattr(owner, name, counted)


@dataclass(slots=True)
class TimedWindow:
    """Wall clock and this process's CPU at the first handler call and at the end."""

    first: float | None = None
    cpu_first: float | None = None

    def started(self) -> None:
        if self.first is None:
            self.first, self.cpu_first = time.time(), time.process_time()

    def result(self, **extra: Any) -> dict[str, Any]:
        end, cpu_end = time.time(), time.process_time()
        return {
            "first": self.first if self.first is not None else end,
            "end": end,
            "cpu_first": self.cpu_first if self.cpu_first is not None else cpu_end,
            "cpu_end": cpu_end,
            "peak_rss_mb": high_water_mb(),
            **extra,
        }
