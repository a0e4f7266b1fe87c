"""Built-in demo task types, for trying the service and for tests, benchmarks and fault runs."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.domain.errors import NonRetryableError, RetryableError

demo_handlers = HandlerRegistry()


@demo_handlers.handler("demo.noop")
async def noop(ctx: TaskContext) -> None:
    """Does nothing: measures the queue's own cost."""


@demo_handlers.handler("demo.sleep")
async def sleep(ctx: TaskContext) -> dict[str, Any]:
    """Sleeps `seconds` (default 1), reporting progress and stopping early on cancel."""
    seconds = float(ctx.payload.get("seconds", 1))
    if not 0 <= seconds <= 86_400:
        raise NonRetryableError("payload.seconds must be between 0 and 86400", code="BadPayload")
    steps = max(1, min(100, int(seconds * 10)))
    for step in range(steps):
        ctx.raise_if_cancelled()
        await asyncio.sleep(seconds / steps)
        ctx.update(state="sleeping", progress=int((step + 1) * 100 / steps))
    return {"slept": seconds}


@demo_handlers.handler("demo.flaky")
async def flaky(ctx: TaskContext) -> dict[str, Any]:
    """Fails with a retryable error on the first `failTimes` attempts, then succeeds."""
    fail_times = int(ctx.payload.get("failTimes", 1))
    if ctx.attempt <= fail_times:
        retry_after = ctx.payload.get("retryAfter")
        raise RetryableError(
            f"flaky failure {ctx.attempt} of {fail_times}",
            retry_after=float(retry_after) if retry_after is not None else None,
            code="Flaky",
        )
    return {"attempts": ctx.attempt}


@demo_handlers.handler("demo.fail")
async def fail(ctx: TaskContext) -> None:
    """Fails with a non-recoverable error."""
    raise NonRetryableError(str(ctx.payload.get("message", "demo failure")), code="DemoFailure")


@demo_handlers.handler("demo.ask")
async def ask(ctx: TaskContext) -> dict[str, Any]:
    """Asks a person `question` mid-run (answer with POST /api/v1/tasks/{id}/decision),
    then returns the decision; `timeoutSeconds` (default 3600) bounds the wait."""
    try:
        question = str(ctx.payload.get("question", "Go ahead?"))
        decision = ctx.request_input(
            question, timeout=float(ctx.payload.get("timeoutSeconds", 3600))
        )
    except (TypeError, ValueError) as error:
        raise NonRetryableError(str(error), code="BadPayload") from error
    return {"decision": decision.decision, "input": decision.input, "by": decision.decided_by}


@demo_handlers.handler("demo.await_signal")
async def await_signal(ctx: TaskContext) -> dict[str, Any]:
    """Waits mid-run for the signal (`signal`, `key`) (POST /api/v1/signals) and returns
    its data; `null` when `timeoutSeconds` (default 3600) passed first."""
    name, key = str(ctx.payload.get("signal", "demo")), str(ctx.payload.get("key", "1"))
    try:
        got = ctx.wait_for_signal(name, key, float(ctx.payload.get("timeoutSeconds", 3600)))
    except (TypeError, ValueError) as error:
        raise NonRetryableError(str(error), code="BadPayload") from error
    return {"data": got.data if got else None, "timedOut": got is None}


@demo_handlers.handler("demo.crash")
async def crash(ctx: TaskContext) -> None:
    """Kills its own worker process at once, to exercise lease takeover."""
    os.kill(os.getpid(), signal.SIGKILL)
