"""What a flood at the door costs another tenant.

`PYTHONPATH=. .venv/bin/python -m tests.bench.door [--seconds 5] [--connections 32]
[--json PATH]`

Starts one API process with default settings on a scratch database, seeds tenant A
with 400 small tasks, and prints tenant B's p50/p99 for GET /api/v1/tasks/{id} (40
requests a second over 2 connections): first with nothing else going on, then while
a flooder child hammers one endpoint over many keep-alive connections: /openapi.json
and /health (anonymous), random bad keys, tenant A's cheap GETs and SSE opens, then
A's expensive calls (200-task pages, a year of usage, queue stats, single posts and
500-task batches). Last, it opens 60 event streams at once with one key, then with
three keys of one tenant, and counts what the stream caps let through.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.application.auth import create_tenant, issue_key
from app.bootstrap import run_migrations, running_services, tenant_repository
from app.config import Settings, load_settings
from tests.bench.flood import (
    MODES,
    Connection,
    Flooder,
    Probe,
    json_body,
    probe,
    served_api,
    small_task,
)
from tests.bench.harness import ROOT, machine_description, scratch_database

SEEDED_TASKS = 400  # tenant A's tasks before the floods: a 200-task page is full
STREAM_OPENS = 60
PACE_RETRIES = 20  # a refusal for pace (rate, requests in progress) is tried again
# The settings that bound what a flood may take (docs/limits.md).
LIMITS = (
    "api_rate_limit_per_second",
    "api_rate_limit_burst",
    "api_max_in_flight_per_key",
    "api_refusal_hold_seconds",
    "api_failed_auth_per_second",
    "api_failed_auth_burst",
    "api_anonymous_per_second",
    "api_anonymous_burst",
    "sse_max_streams_per_key",
    "sse_max_streams_per_tenant",
    "sse_max_streams",
)


def new_tenant(dsn: str, name: str) -> str:
    """A tenant and its first key."""
    return new_tenant_keys(dsn, name, 1)[0]


def new_tenant_keys(dsn: str, name: str, keys: int) -> list[str]:
    """A tenant and `keys` API keys of it."""

    async def create() -> list[str]:
        settings = load_settings(database_url=dsn, log_level="WARNING", log_console=False)
        async with running_services(settings, process="bench") as services:
            tenants = tenant_repository(services)
            first = await create_tenant(name, tenants=tenants)
            more = [
                await issue_key(first.tenant_id, tenants=tenants, key_name=f"key-{n}")
                for n in range(2, keys + 1)
            ]
            return [first.key, *(issued.key for issued in more)]

    return asyncio.run(create())


def post(url: str, key: str, path: str, body: object) -> Any:
    """POST a JSON body with `key`; the answer's JSON."""
    request = urllib.request.Request(
        url + path,
        data=json_body(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def new_task(url: str, key: str) -> str:
    """A queued task of the key's tenant; its path."""
    return f"/api/v1/tasks/{post(url, key, '/api/v1/tasks', {'type': 'door.probe'})['id']}"


def seed_tasks(url: str, key: str, count: int) -> None:
    """`count` small tasks for the key's tenant, through the batch endpoint."""
    for start in range(0, count, 200):
        tasks = [small_task(n) for n in range(start, min(count, start + 200))]
        post(url, key, "/api/v1/tasks/batch", {"tasks": tasks})


@dataclass(frozen=True, slots=True)
class Case:
    """Tenant B's latencies during one flood (or none), and what the flood got."""

    name: str
    seen: Probe
    flood: dict[str, int] | None
    flood_seconds: float

    def line(self) -> str:
        b_statuses = ",".join(f"{code}:{n}" for code, n in sorted(self.seen.statuses.items()))
        text = (
            f"{self.name:<12} B p50 {self.seen.p50:7.1f} ms  p99 {self.seen.p99:7.1f} ms"
            f"  B [{b_statuses}]"
        )
        if self.flood is not None:
            total = sum(self.flood.values())
            shown = ",".join(f"{code}:{n}" for code, n in sorted(self.flood.items()))
            text += f"  flood {total / self.flood_seconds:6.0f}/s [{shown}]"
        return text

    def record(self) -> dict[str, Any]:
        flood = None
        if self.flood is not None:
            total = sum(self.flood.values())
            flood = {
                "requests": total,
                "seconds": self.flood_seconds,
                "per_second": round(total / self.flood_seconds, 1),
                "statuses": dict(sorted(self.flood.items())),
            }
        return {
            "case": self.name,
            "b": {
                "p50_ms": round(self.seen.p50, 2),
                "p99_ms": round(self.seen.p99, 2),
                "requests": len(self.seen.samples_ms),
                "statuses": {str(code): n for code, n in sorted(self.seen.statuses.items())},
            },
            "flood": flood,
        }


def refusal_reason(status: int, body: bytes) -> str:
    """`200`, or which limit a refusal names (from its problem's detail)."""
    if status != 429:
        return str(status)
    detail = str(json.loads(body or b"{}").get("detail", ""))
    for phrase, reason in (
        ("streams per API key", "429 key cap"),
        ("streams per tenant", "429 tenant cap"),
        ("open streams as it takes", "429 process cap"),
        ("requests at once", "429 in flight"),
        ("slow down", "429 rate"),
    ):
        if phrase in detail:
            return reason
    return "429 other"


@dataclass(frozen=True, slots=True)
class StreamOpens:
    """`opens` simultaneous GET /api/v1/events over `keys` keys of one tenant, every
    stream that opened held open until all had their answer."""

    keys: int
    opens: int
    first: Counter[str]  # each open's first answer
    final: Counter[str]  # after refusals for pace were tried again

    def line(self) -> str:
        def shown(counts: Counter[str]) -> str:
            return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))

        return (
            f"streams: {self.opens} opens at once over {self.keys} key(s) of one tenant:"
            f" first answers [{shown(self.first)}]; finally [{shown(self.final)}]"
        )

    def record(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "opens": self.opens,
            "first_answers": dict(sorted(self.first.items())),
            "final": dict(sorted(self.final.items())),
            "opened": self.final["200"],
            "refused": self.opens - self.final["200"],
        }


async def open_streams(url: str, keys: list[str], opens: int) -> StreamOpens:
    """Open `opens` tenant event streams at once, round robin over `keys`."""
    connections = [Connection(url) for _ in range(opens)]
    first: Counter[str] = Counter()
    final: Counter[str] = Counter()

    async def one(connection: Connection, key: str) -> None:
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
        for attempt in range(PACE_RETRIES + 1):
            status, body = await connection.request(
                "GET", "/api/v1/events", headers, keep_stream=True
            )
            reason = refusal_reason(status, body)
            if attempt == 0:
                first[reason] += 1
            if reason not in ("429 in flight", "429 rate") or attempt == PACE_RETRIES:
                final[reason] += 1
                return
            await asyncio.sleep(0.05)

    try:
        await asyncio.gather(
            *(one(connection, keys[n % len(keys)]) for n, connection in enumerate(connections))
        )
    finally:
        for connection in connections:
            connection.close()
    return StreamOpens(len(keys), opens, first, final)


def limit_settings(overrides: dict[str, str]) -> dict[str, object]:
    """The limits the API ran with: defaults, with `--set` on top."""
    values: dict[str, object] = {name: Settings.model_fields[name].default for name in LIMITS}
    values.update({name.lower(): value for name, value in overrides.items()})
    return values


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def uncommitted() -> list[str]:
    """Changed files of the API's code that the commit does not hold."""
    return git("status", "--porcelain", "--", "app", "workers", "sql").splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.door")
    parser.add_argument("--seconds", type=float, default=5.0, help="probe time per case")
    parser.add_argument("--connections", type=int, default=32, help="flooder connections")
    parser.add_argument("--only", default=",".join(MODES), help="floods to run")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an API setting"
    )
    parser.add_argument("--json", type=Path, help="also write everything printed here")
    args = parser.parse_args()
    overrides = dict(pair.split("=", 1) for pair in args.set)
    report: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.door", *sys.argv[1:]]),
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted": uncommitted(),
        "machine": machine_description(),
        "api": "one process, loopback, flooder and probe on the same machine",
        "settings": limit_settings(overrides),
        "seconds": args.seconds,
        "connections": args.connections,
        "seeded_tasks_a": SEEDED_TASKS,
        "cases": [],
        "stream_caps": [],
    }
    with scratch_database("door") as dsn:
        asyncio.run(run_migrations(dsn))
        key_a, key_b = new_tenant(dsn, "tenant-a"), new_tenant(dsn, "tenant-b")
        one_key = new_tenant_keys(dsn, "streams-one-key", 1)
        three_keys = new_tenant_keys(dsn, "streams-three-keys", 3)
        with served_api(dsn, **overrides) as url:
            path_a, path_b = new_task(url, key_a), new_task(url, key_b)
            seed_tasks(url, key_a, SEEDED_TASKS)
            shown = ", ".join(args.set) or "default settings"
            cores = report["machine"]["cores"]
            print(
                f"one API process, {shown}; flooder: {args.connections} connections;"
                f" {cores} cores; commit {report['commit']}"
            )
            cases = [
                Case("baseline", asyncio.run(probe(url, path_b, key_b, args.seconds)), None, 0)
            ]
            print(cases[-1].line(), flush=True)
            for mode in args.only.split(","):
                warmup = 1.0
                flooder = Flooder(url, mode, args.seconds + warmup, args.connections, key_a, path_a)
                time.sleep(warmup)
                seen = asyncio.run(probe(url, path_b, key_b, args.seconds))
                cases.append(Case(mode, seen, flooder.result(), args.seconds + warmup))
                print(cases[-1].line(), flush=True)
                time.sleep(1.5)  # buckets refill, streams close: each case starts even
            report["cases"] = [case.record() for case in cases]
            for keys in (one_key, three_keys):
                opened = asyncio.run(open_streams(url, keys, STREAM_OPENS))
                print(opened.line(), flush=True)
                report["stream_caps"].append(opened.record())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
