"""TaskContext: what a handler gets (seed 002), safe to use from a thread handler too."""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import structlog

from app.application.ports import NO_USAGE, Artifact, LeaseStore, ProgressUpdate, Usage
from app.domain import waits
from app.domain.errors import NonRetryableError
from app.domain.waits import Decision, Park, SignalReceived, TaskParked


class TaskCancelled(Exception):
    """Raised by `raise_if_cancelled` when a cancel was requested for the running task."""


class TaskContext:
    """The running attempt as its handler sees it.

    `update` only records the latest values in memory; the worker writes them
    at most about once a second, so a handler may report progress as often as
    it likes without a database round trip each time.
    """

    def __init__(
        self,
        *,
        task_id: uuid.UUID,
        tenant_id: uuid.UUID,
        task_type: str,
        payload: Mapping[str, Any],
        attempt: int,
        max_attempts: int,
        attempt_id: int,
        trace_id: str | None,
        correlation_id: str | None,
        store: LeaseStore,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.task_id = task_id
        self.tenant_id = tenant_id
        self.type = task_type
        self.payload = payload
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.attempt_id = attempt_id
        self.trace_id = trace_id
        self.correlation_id = correlation_id
        self._store = store
        self.resume: Mapping[str, Any] = resume or {}
        self._lock = threading.Lock()
        # Set by the worker's loop, read by the handler (a thread's read of a bool is atomic).
        self._cancelled = False
        self._pending: ProgressUpdate | None = None
        self.usage = NO_USAGE

    @functools.cached_property
    def log(self) -> structlog.stdlib.BoundLogger:
        """A logger bound to this task (made on first use: most handlers never log)."""
        logger: structlog.stdlib.BoundLogger = structlog.get_logger("app.task").bind(
            task_id=str(self.task_id),
            tenant_id=str(self.tenant_id),
            trace_id=self.trace_id,
            task_type=self.type,
        )
        return logger

    # -- progress -----------------------------------------------------------------

    def update(
        self,
        state: str | None = None,
        progress: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the task's state (a short label), progress (0..100) and metadata."""
        if progress is not None and not 0 <= progress <= 100:
            raise ValueError("progress must be between 0 and 100")
        if state is not None and (len(state) > 200 or "\x00" in state):
            raise ValueError("state must be at most 200 characters, without NUL")
        if metadata is not None:
            try:
                encoded = json.dumps(dict(metadata))
            except (TypeError, ValueError) as error:
                raise ValueError(f"metadata must be JSON: {error}") from error
            if "\\u0000" in encoded:
                raise ValueError("metadata must not contain NUL characters")
        with self._lock:
            previous = self._pending
            merged_metadata = dict(previous.metadata or {}) if previous else {}
            merged_metadata.update(metadata or {})
            self._pending = ProgressUpdate(
                self.task_id,
                self.attempt_id,
                progress if progress is not None else (previous.progress if previous else None),
                state if state is not None else (previous.state if previous else None),
                merged_metadata or None,
            )

    def take_progress(self) -> ProgressUpdate | None:
        """Hand the pending update to the worker (and forget it)."""
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    # -- results ------------------------------------------------------------------

    def report_usage(
        self,
        *,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        latency_ms: int | None = None,
    ) -> None:
        """Record what this attempt cost; stored on its task_attempts row when it ends.

        Replaces whatever was reported before; `add_usage` adds to it instead.
        """
        self.usage = Usage(model, tokens_in, tokens_out, cost, latency_ms)

    def add_usage(
        self,
        *,
        model: str | None,
        tokens_in: int | None,
        tokens_out: int | None,
        cost: float | None,
        latency_ms: int | None,
    ) -> None:
        """Add one provider call to this attempt's usage (a handler may make several).

        Tokens, cost and latency add up; the model is the latest call's. A call whose
        cost is unknown makes the attempt's cost unknown (None), never understated.
        """
        with self._lock:
            self.usage = self.usage.plus(Usage(model, tokens_in, tokens_out, cost, latency_ms))

    async def add_artifact(
        self,
        kind: str,
        *,
        content: str | None = None,
        uri: str | None = None,
        name: str | None = None,
        content_type: str = "text/plain",
        size_bytes: int | None = None,
    ) -> None:
        """Store an output now (text inline, or a URI to a stored file).

        `size_bytes` is the size of the file a `uri` names, when known; inline content
        is measured when it is stored.
        """
        if (content is None) == (uri is None):
            raise ValueError("an artifact has either content or a uri")
        if size_bytes is not None and (content is not None or size_bytes < 0):
            raise ValueError("size_bytes is the non-negative size of a uri's file")
        artifact = Artifact(kind, content, uri, name, content_type, size_bytes)
        stored = await self._store.add_artifact(self.task_id, self.attempt_id, artifact)
        if not stored:
            raise NonRetryableError("the lease on this task was lost", code="LeaseLost")

    # -- waiting on the outside world (docs/design/waits.md) ---------------------------
    #
    # Asking parks the task: the attempt ends here (Released, not counted), the lease and
    # the worker slot are let go, and when the answer comes the handler runs again FROM
    # THE TOP, with the answer kept: the same call then returns it. So write handlers as
    # re-runnable steps: work done before the call is done again unless the handler
    # checks what it already did (its artifacts, its state) or does it after the call.

    def request_input(
        self,
        question: str,
        schema: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        *,
        key: str | None = None,
    ) -> Decision:
        """Ask a person; returns their Decision (`approved`, `input`, `comment`) once
        given, or a Decision with `timed_out` when `timeout` seconds passed first.

        `key` names the question (default: derived from its text); ask a second,
        different question under a different key."""
        waits.check_question(question)
        if schema is not None:
            waits.check_schema(schema)
        waits.check_seconds(timeout, "timeout")
        wait_key = waits.input_key(question, key)
        answer = self.resume.get(wait_key)
        if isinstance(answer, Mapping):
            return waits.decision_of(answer)
        raise TaskParked(Park("input", wait_key, timeout, question=question, schema=schema))

    def wait_for_signal(
        self, name: str, key: str, timeout: float | None = None
    ) -> SignalReceived | None:
        """Wait for the signal (name, key) (POST /api/v1/signals); returns it, or None
        when `timeout` seconds passed first. A signal received shortly before the call
        (within its retention window) answers it at once."""
        waits.check_signal_name(name, key)
        waits.check_seconds(timeout, "timeout")
        wait_key = waits.signal_key_of(name, key)
        answer = self.resume.get(wait_key)
        if isinstance(answer, Mapping):
            return waits.signal_of(answer)
        raise TaskParked(Park("signal", wait_key, timeout, signal_name=name, signal_key=key))

    @property
    def approval(self) -> Decision | None:
        """The decision that released this task (a HumanInLoop task's approval block)."""
        answer = self.resume.get(waits.APPROVAL_KEY)
        return waits.decision_of(answer) if isinstance(answer, Mapping) else None

    @property
    def signal(self) -> SignalReceived | None:
        """The signal this task waited for before it started (`waitFor`), if any."""
        answer = self.resume.get(waits.WAIT_FOR_KEY)
        return waits.signal_of(answer) if isinstance(answer, Mapping) else None

    @property
    def input(self) -> Any:
        """The input of the newest decision given to this task (None if none)."""
        decision = waits.latest_decision(self.resume)
        return decision.input if decision else None

    # -- cancellation -------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """True once a cancel was requested (or the worker is shutting down)."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        """For long loops: stop here if the task should stop."""
        if self._cancelled:
            raise TaskCancelled(str(self.task_id))

    def mark_cancelled(self) -> None:
        self._cancelled = True
