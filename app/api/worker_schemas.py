"""The bodies of GET /api/v1/workers: the worker registry as operators see it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api.input_types import Output


class WorkerOut(Output):
    """One registered worker process."""

    id: str = Field(
        description="The worker id, as in task leases and logs.", examples=["host-a-4242"]
    )
    host: str = Field(examples=["host-a"])
    pid: int = Field(examples=[4242])
    version: str = Field(description="The package version it runs.", examples=["0.1.0"])
    status: Literal["running", "stopped", "dead"] = Field(
        description="`stopped`: it stopped cleanly; `dead`: the maintenance leader found it "
        "silent for three heartbeats and at least a lease.",
        examples=["running"],
    )
    concurrency: int = Field(description="Tasks it runs at once.", examples=[10])
    started_at: datetime
    last_heartbeat_at: datetime
    stopped_at: datetime | None = Field(
        description="When it stopped, or when it was found dead.", examples=[None]
    )
    held_tasks: int = Field(
        description="Tasks it holds a live lease on now (Reserved or Running).", examples=[3]
    )


class WorkerList(Output):
    """Every registered worker (rows of stopped and dead ones are kept for a day)."""

    workers: list[WorkerOut] = Field(
        examples=[
            [
                {
                    "id": "host-a-4242",
                    "host": "host-a",
                    "pid": 4242,
                    "version": "0.1.0",
                    "status": "running",
                    "concurrency": 10,
                    "startedAt": "2026-01-05T09:00:00Z",
                    "lastHeartbeatAt": "2026-01-05T09:41:20Z",
                    "stoppedAt": None,
                    "heldTasks": 3,
                }
            ]
        ]
    )
