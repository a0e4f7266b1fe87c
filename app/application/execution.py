"""Running one attempt: find the handler, enforce the timeout, decide the Outcome."""

from __future__ import annotations

import asyncio
import enum
import json
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.application.context import TaskCancelled, TaskContext
from app.application.handlers import HandlerRegistry, HandlerSpec
from app.application.ports import FinishedAttempt, LeasedTask
from app.domain import outcome as outcomes
from app.domain.errors import NonRetryableError
from app.domain.outcome import Outcome
from app.domain.retry import RetryPolicy


class StopReason(enum.Enum):
    """Why the worker interrupted a running handler."""

    CANCEL_REQUESTED = "cancel_requested"
    SHUTDOWN = "shutdown"
    LEASE_LOST = "lease_lost"


@dataclass(slots=True)
class RunningAttempt:
    """A task this worker is executing right now."""

    task: LeasedTask
    context: TaskContext
    handle: asyncio.Task[FinishedAttempt | None] | None = None
    stop_reason: StopReason | None = None
    started: float = field(default_factory=time.monotonic)

    def interrupt(self, reason: StopReason) -> None:
        """Stop the handler (the first reason wins)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.context.mark_cancelled()
        if self.handle is not None and not self.handle.done():
            self.handle.cancel()


def retry_policy_for(
    task: LeasedTask, spec: HandlerSpec | None, default: RetryPolicy
) -> RetryPolicy:
    """Per-task policy beats the handler's, which beats the worker default."""
    if task.retry_policy:
        base = spec.retry if spec and spec.retry else default
        return RetryPolicy(
            base_seconds=float(task.retry_policy.get("baseSeconds", base.base_seconds)),
            factor=float(task.retry_policy.get("factor", base.factor)),
            max_seconds=float(task.retry_policy.get("maxSeconds", base.max_seconds)),
            jitter=base.jitter,
        )
    return spec.retry if spec and spec.retry else default


def timeout_for(task: LeasedTask, spec: HandlerSpec | None, default: float) -> float:
    if task.timeout_seconds:
        return float(task.timeout_seconds)
    if spec and spec.timeout_seconds:
        return spec.timeout_seconds
    return default


async def invoke(spec: HandlerSpec, context: TaskContext, process_pool: Executor | None) -> Any:
    """Call the handler the way it was registered to run."""
    if spec.executor == "async":
        return await spec.func(context)
    if spec.executor == "thread":
        return await asyncio.to_thread(spec.func, context)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(process_pool, spec.func, dict(context.payload))


def encode_result(result: Any) -> str | None:
    if result is None:
        return None
    try:
        return json.dumps(result, default=str, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise NonRetryableError(f"the handler's result is not JSON: {error}") from error


async def run_attempt(
    running: RunningAttempt,
    *,
    registry: HandlerRegistry,
    default_timeout: float,
    default_retry: RetryPolicy,
    process_pool: Executor | None,
    clock: Any,
) -> FinishedAttempt | None:
    """Execute one leased task; None when the lease was lost (nothing may be written)."""
    task, context = running.task, running.context
    spec = registry.resolve(task.type, task.capability_type)
    result_json: str | None = None
    try:
        if spec is None:
            raise NonRetryableError(
                f"no handler is registered for task type {task.type!r}", code="NoHandler"
            )
        timeout = timeout_for(task, spec, default_timeout)
        try:
            async with asyncio.timeout(timeout):
                result = await invoke(spec, context, process_pool)
        except TimeoutError as error:
            raise TimeoutError(f"the task ran past its {timeout:g}s timeout") from error
        result_json = encode_result(result)
        outcome: Outcome = outcomes.SUCCEEDED
    except (asyncio.CancelledError, TaskCancelled):
        reason = running.stop_reason
        if reason is None:
            raise  # the worker itself is being torn down
        if reason is StopReason.LEASE_LOST:
            context.log.warning("lease_lost_attempt_abandoned", attempt=task.attempt_no)
            return None
        outcome = outcomes.CANCELLED if reason is StopReason.CANCEL_REQUESTED else outcomes.RELEASED
    except Exception as error:
        now: datetime = await clock()
        outcome = outcomes.failed(
            error,
            attempt_no=task.attempt_no,
            max_attempts=task.max_attempts,
            policy=retry_policy_for(task, spec, default_retry),
            now=now,
        )
        context.log.warning(
            "task_attempt_failed",
            attempt=task.attempt_no,
            error_code=outcome.error_code,
            error_type=type(error).__name__,
            next_status=str(outcome.task_status),
            retry_at=outcome.retry_at.isoformat() if outcome.retry_at else None,
        )
    usage = context.usage
    if usage.latency_ms is None:
        usage = replace(usage, latency_ms=int((time.monotonic() - running.started) * 1000))
    return FinishedAttempt(
        task_id=task.id,
        attempt_id=task.attempt_id,
        task_status=outcome.task_status,
        attempt_status=outcome.attempt_status,
        event_type=outcome.event_type,
        retry_at=outcome.retry_at,
        error_code=outcome.error_code,
        error_detail=outcome.error_detail,
        result_json=result_json,
        usage=usage,
    )
