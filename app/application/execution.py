"""Running one attempt: find the handler, enforce the timeout, decide the Outcome."""

from __future__ import annotations

import asyncio
import enum
import json
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from app.application.context import TaskCancelled, TaskContext
from app.application.handlers import HandlerRegistry, HandlerSpec
from app.application.ports import NO_USAGE, FinishedAttempt, LeasedTask, Usage
from app.domain import outcome as outcomes
from app.domain.errors import NonRetryableError
from app.domain.outcome import Outcome
from app.domain.retry import RetryPolicy, policy_from_mapping
from app.domain.waits import Park, TaskParked

log = structlog.get_logger("app.worker")

INT32_MAX = 2**31 - 1
MAX_COST = 10**8 - 1  # numeric(14, 6)


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
    # Set once the handler has been entered; before that, cancelling the asyncio task
    # would skip the code that reports the outcome.
    entered: bool = False
    # Set once the outcome is decided: from then on nothing may interrupt it.
    settled: bool = False
    # When the handler ended (its duration is started..ended, whatever the loop does after).
    ended: float | None = None

    def interrupt(self, reason: StopReason) -> None:
        """Stop the handler (the first reason wins)."""
        if self.settled:
            return
        if self.stop_reason is None:
            self.stop_reason = reason
        self.context.mark_cancelled()
        if self.entered and self.handle is not None and not self.handle.done():
            self.handle.cancel()


@dataclass(frozen=True, slots=True)
class Executors:
    """Where sync handlers run: threads sized to the worker, processes for CPU work."""

    threads: Executor | None = None
    processes: Executor | None = None


def retry_policy_for(
    task: LeasedTask, spec: HandlerSpec | None, default: RetryPolicy
) -> RetryPolicy:
    """Per-task policy beats the handler's, which beats the worker default."""
    base = spec.retry if spec and spec.retry else default
    if task.retry_policy:
        try:
            return policy_from_mapping(task.retry_policy, base)
        except ValueError:
            log.warning("bad_retry_policy_ignored", task_id=str(task.id))
    return base


def timeout_for(task: LeasedTask, spec: HandlerSpec | None, default: float) -> float:
    if task.timeout_seconds:
        return float(task.timeout_seconds)
    if spec and spec.timeout_seconds:
        return spec.timeout_seconds
    return default


async def invoke(spec: HandlerSpec, context: TaskContext, executors: Executors) -> Any:
    """Call the handler the way it was registered to run.

    A thread or a process cannot be stopped from outside: when the attempt is
    interrupted, the context is marked cancelled and the attempt ends only when the
    function returns, so its lease is held (and the task not run elsewhere) until then.
    """
    if spec.executor == "async":
        return await spec.func(context)
    loop = asyncio.get_running_loop()
    if spec.executor == "thread":
        future = loop.run_in_executor(executors.threads, spec.func, context)
    else:
        future = loop.run_in_executor(executors.processes, spec.func, dict(context.payload))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        context.mark_cancelled()
        while not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                continue
            except Exception:
                break
        raise


def clean_text(text: str | None, limit: int | None = None) -> str | None:
    """Text Postgres accepts: no NUL, no lone surrogates, optionally cut to `limit`."""
    if text is None:
        return None
    cleaned = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return cleaned[:limit] if limit else cleaned


def encode_result(result: Any) -> str | None:
    if result is None:
        return None
    try:
        return clean_text(json.dumps(result, default=str, ensure_ascii=False))
    except (TypeError, ValueError) as error:
        raise NonRetryableError(f"the handler's result is not JSON: {error}") from error


def clean_usage(usage: Usage, measured_ms: int) -> Usage:
    """Usage that fits the attempt row's columns; nonsense becomes NULL, never a failed write."""
    if usage is NO_USAGE or usage == NO_USAGE:
        return Usage(latency_ms=measured_ms)

    def count(value: int | None) -> int | None:
        return value if isinstance(value, int) and 0 <= value <= INT32_MAX else None

    cost = usage.cost
    if not isinstance(cost, int | float) or not 0 <= cost <= MAX_COST:
        cost = None
    return Usage(
        model=clean_text(usage.model, 200),
        tokens_in=count(usage.tokens_in),
        tokens_out=count(usage.tokens_out),
        cost=cost,
        latency_ms=count(usage.latency_ms) if usage.latency_ms is not None else measured_ms,
    )


async def run_attempt(
    running: RunningAttempt,
    *,
    registry: HandlerRegistry,
    default_timeout: float,
    default_retry: RetryPolicy,
    executors: Executors,
) -> FinishedAttempt | None:
    """Execute one leased task; None when the lease was lost (nothing may be written)."""
    task, context = running.task, running.context
    spec = registry.resolve(task.type, task.capability_type)
    result_json: str | None = None
    park: Park | None = None
    running.entered = True
    running.started = time.monotonic()  # the handler's time, not the wait for the loop
    try:
        if running.stop_reason is not None:
            raise TaskCancelled(str(task.id))  # interrupted before it began
        if spec is None:
            raise NonRetryableError(
                f"no handler is registered for task type {task.type!r}", code="NoHandler"
            )
        timeout = timeout_for(task, spec, default_timeout)
        try:
            async with asyncio.timeout(timeout):
                result = await invoke(spec, context, executors)
        except TimeoutError as error:
            raise TimeoutError(f"the task ran past its {timeout:g}s timeout") from error
        result_json = encode_result(result)
        outcome: Outcome = outcomes.SUCCEEDED
    except (asyncio.CancelledError, TaskCancelled):
        reason = running.stop_reason
        if reason is None:
            raise  # the worker itself is being torn down
        if reason is StopReason.LEASE_LOST:
            context.log.warning(
                "lease_lost_attempt_abandoned",
                attempt=task.attempt_no,
                **context.usage.log_fields(),
            )
            return None
        outcome = outcomes.CANCELLED if reason is StopReason.CANCEL_REQUESTED else outcomes.RELEASED
    except TaskParked as parked:
        # The handler asked to wait: not a failure; the task is parked until answered.
        park, outcome = parked.park, outcomes.PARKED
        context.log.info("task_parked", wait=park.kind, attempt=task.attempt_no)
    except Exception as error:
        outcome = failure_outcome(error, task, spec, default_retry)
    running.settled = True
    running.ended = time.monotonic()
    measured_ms = int((running.ended - running.started) * 1000)
    if outcome.error_code is not None or outcome.error_detail is not None:
        outcome = replace(
            outcome,
            error_code=clean_text(outcome.error_code, 100),
            error_detail=clean_text(outcome.error_detail),
        )
    return FinishedAttempt(
        task_id=task.id,
        attempt_id=task.attempt_id,
        outcome=outcome,
        result_json=result_json,
        usage=clean_usage(context.usage, measured_ms),
        park=park,
    )


def failure_outcome(
    error: Exception, task: LeasedTask, spec: HandlerSpec | None, default_retry: RetryPolicy
) -> Outcome:
    """The outcome of a failed attempt; never raises, so no failure goes unrecorded."""
    try:
        outcome = outcomes.failed(
            error,
            attempt_no=task.attempt_no,
            max_attempts=task.max_attempts,
            policy=retry_policy_for(task, spec, default_retry),
        )
    except Exception:  # a broken policy must not lose the attempt: use the default one
        outcome = outcomes.failed(
            error, attempt_no=task.attempt_no, max_attempts=task.max_attempts, policy=default_retry
        )
    log.warning(
        "task_attempt_failed",
        task_id=str(task.id),
        attempt=task.attempt_no,
        error_code=outcome.error_code,
        error_type=type(error).__name__,
        next_status=str(outcome.task_status),
        retry_in_seconds=round(outcome.retry_delay, 3) if outcome.retry_delay is not None else None,
    )
    return outcome
