"""What a flood at the door costs another tenant.

`PYTHONPATH=. .venv/bin/python -m tests.bench.door [--seconds 5] [--connections 32]`

Starts one API process with default settings on a scratch database and prints tenant
B's p50/p99 for GET /api/v1/tasks/{id} (40 requests a second over 2 connections):
first with nothing else going on, then while a flooder child hammers one endpoint
over many keep-alive connections: /openapi.json and /health (anonymous), random bad
keys, tenant A's own cheap GETs, and tenant A opening SSE streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request

from app.application.auth import create_tenant
from app.bootstrap import run_migrations, running_services, tenant_repository
from app.config import load_settings
from tests.bench.flood import MODES, Flooder, Probe, probe, served_api
from tests.bench.harness import scratch_database


def new_tenant(dsn: str, name: str) -> str:
    """A tenant and its first key."""

    async def create() -> str:
        settings = load_settings(database_url=dsn, log_level="WARNING", log_console=False)
        async with running_services(settings, process="bench") as services:
            return (await create_tenant(name, tenants=tenant_repository(services))).key

    return asyncio.run(create())


def new_task(url: str, key: str) -> str:
    """A queued task of the key's tenant; its path."""
    request = urllib.request.Request(
        url + "/api/v1/tasks",
        data=json.dumps({"type": "door.probe"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return f"/api/v1/tasks/{json.loads(response.read())['id']}"


def line(label: str, seen: Probe, flood: dict[str, int] | None, seconds: float) -> str:
    b_statuses = ",".join(f"{code}:{n}" for code, n in sorted(seen.statuses.items()))
    text = f"{label:<12} B p50 {seen.p50:7.1f} ms  p99 {seen.p99:7.1f} ms  B [{b_statuses}]"
    if flood is not None:
        total = sum(flood.values())
        shown = ",".join(f"{code}:{n}" for code, n in sorted(flood.items()))
        text += f"  flood {total / seconds:6.0f}/s [{shown}]"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.door")
    parser.add_argument("--seconds", type=float, default=5.0, help="probe time per case")
    parser.add_argument("--connections", type=int, default=32, help="flooder connections")
    parser.add_argument("--only", default=",".join(MODES), help="floods to run")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an API setting"
    )
    args = parser.parse_args()
    overrides = dict(pair.split("=", 1) for pair in args.set)
    with scratch_database("door") as dsn:
        asyncio.run(run_migrations(dsn))
        key_a, key_b = new_tenant(dsn, "tenant-a"), new_tenant(dsn, "tenant-b")
        with served_api(dsn, **overrides) as url:
            path_a, path_b = new_task(url, key_a), new_task(url, key_b)
            shown = ", ".join(args.set) or "default settings"
            print(f"one API process, {shown}; flooder: {args.connections} connections")
            baseline = asyncio.run(probe(url, path_b, key_b, args.seconds))
            print(line("baseline", baseline, None, args.seconds), flush=True)
            for mode in args.only.split(","):
                warmup = 1.0
                flooder = Flooder(url, mode, args.seconds + warmup, args.connections, key_a, path_a)
                time.sleep(warmup)
                seen = asyncio.run(probe(url, path_b, key_b, args.seconds))
                print(line(mode, seen, flooder.result(), args.seconds + warmup), flush=True)
                time.sleep(1.5)  # buckets refill, streams close: each case starts even


if __name__ == "__main__":
    main()
