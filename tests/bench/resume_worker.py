"""A worker whose handler waits for a signal, for the resume-latency benchmark
(tests/bench/waits.py).

`bench.await` calls `ctx.wait_for_signal("bench", payload.key)`: its first run parks the
task; once the signal came, it runs again from the top and the call returns at once,
and the handler notes the time. Serves until `--expect` tasks were resumed (or
`--seconds` passed), writes "task_id time" lines to `--record`, then prints a JSON line
(what the harness's children print).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.bootstrap import build_worker
from app.logging import configure_logging
from tests.bench.contenders.ours import settings_for
from tests.bench.harness import RESULTS_DIR
from workers.signals import run_event_loop

TASK_TYPE = "bench.await"
SIGNAL = "bench"


async def serve(
    dsn: str, concurrency: int, seconds: float, expect: int, record: Path
) -> dict[str, int]:
    registry = HandlerRegistry()
    resumed: list[tuple[uuid.UUID, float]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    @registry.handler(TASK_TYPE)
    async def wait_then_record(ctx: TaskContext) -> None:
        ctx.wait_for_signal(SIGNAL, ctx.payload["key"])
        resumed.append((ctx.task_id, time.time()))
        if len(resumed) >= expect:
            loop.call_soon_threadsafe(stop.set)

    configure_logging("bench-worker", log_dir=RESULTS_DIR / "logs", level="WARNING", console=False)
    process = build_worker(settings_for(dsn), registry, concurrency=concurrency)
    loop.call_later(seconds, stop.set)
    record.with_suffix(".ready").touch()
    await process.run(stop)
    record.write_text("".join(f"{task_id} {at}\n" for task_id, at in resumed))
    return {"resumed": len(resumed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    result = run_event_loop(
        serve(args.dsn, args.concurrency, args.seconds, args.expect, args.record)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
