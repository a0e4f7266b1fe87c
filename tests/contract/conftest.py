"""The contract run's service: the API on a free port, a worker beside it, a tenant's key.

Every task whose `capabilityType` is set runs a handler that writes two artifacts (one
inline, one in the artifact store), so the stateful phase can follow links from a new
task to its artifacts' content; a task without one has no handler and dead-letters at
once, so `requeue` is reached with a real DeadLetter task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.adapters.artifacts.local import LocalArtifactStore
from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.domain.enums import CapabilityType
from tests.api.conftest import Caller, new_caller
from tests.workers.conftest import StartWorker

__all__ = ["base_url", "start_worker"]  # re-exported fixtures the run below needs
from tests.api.conftest import base_url
from tests.workers.conftest import start_worker

REPORT = b"%PDF-1.7\n" + bytes(range(256)) * 8


@dataclass(frozen=True)
class ContractApi:
    """Where the API listens and the key the run sends."""

    url: str
    key: str


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def api_overrides(artifact_dir: Path) -> dict[str, Any]:
    # The run sends a few hundred requests a second with one key from one address: the
    # door's per-key and per-address rates would answer most of them with a 429
    # (documented, but it tests nothing else).
    return {
        "artifact_dir": artifact_dir,
        "api_rate_limit_per_second": 100_000.0,
        "api_rate_limit_burst": 100_000.0,
        "api_tasks_per_second": 1_000_000.0,
        "api_tasks_burst": 1_000_000.0,
        "api_signals_per_second": 100_000.0,
        "api_signals_burst": 100_000.0,
        "api_anonymous_per_second": 100_000.0,
        "api_anonymous_burst": 100_000.0,
    }


def artifact_handlers(artifact_dir: Path) -> HandlerRegistry:
    """A handler for every capability that writes a text and a stored PDF artifact."""
    store = LocalArtifactStore(artifact_dir)
    registry = HandlerRegistry()

    async def report(ctx: TaskContext) -> dict[str, Any]:
        await ctx.add_artifact("text", content="a summary", name="summary.txt")
        uri = await store.put(ctx.task_id, "report.pdf", REPORT)
        await ctx.add_artifact(
            "file",
            uri=uri,
            name="report.pdf",
            content_type="application/pdf",
            size_bytes=len(REPORT),
        )
        return {"pages": 1}

    for capability in CapabilityType:
        registry.register_capability(capability, report)
    return registry


@pytest.fixture
async def contract_api(
    database_url: str, base_url: str, artifact_dir: Path, start_worker: StartWorker
) -> AsyncIterator[ContractApi]:
    await start_worker(
        artifact_handlers(artifact_dir),
        artifact_dir=artifact_dir,
        worker_concurrency=4,
        # Tasks finish while the run still holds their ids: requeue meets DeadLetter tasks.
        worker_poll_interval_seconds=0.05,
    )
    caller: Caller = await new_caller(database_url, base_url, "contract")
    yield ContractApi(base_url, caller.key)
    await caller.http.aclose()
