"""Handlers: the code that does a task's work, registered per task type.

    registry = HandlerRegistry()

    @registry.handler("summarise", timeout=120)
    async def summarise(ctx: TaskContext) -> dict:
        ctx.update(state="calling model", progress=10)
        ...

Schedules can be declared beside the handlers; workers keep them in sync as they start
(docs/design/schedules.md):

    registry.schedule("nightly-report", "0 2 * * *", timezone="Europe/Berlin",
                      task={"type": "report", "payload": {"scope": "daily"}},
                      tenant_id=TENANT)

An `async def` runs on the worker's event loop; a plain `def` runs in a thread
(`executor="thread"`, the default for sync functions) so it cannot stall the
loop; `executor="process"` runs a top-level `def f(payload) -> result` in a
process pool for CPU-bound work (it gets the payload, not the context).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from app.domain.enums import CapabilityType
from app.domain.retry import RetryPolicy
from app.domain.schedules import MissedPolicy, check_cron, check_timezone

Executor = Literal["async", "thread", "process"]
HandlerFunc = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler and how to run it."""

    type: str
    func: HandlerFunc
    executor: Executor
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = None
    # One of the service's own capability handlers, as opposed to one an app registered.
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleDeclaration:
    """A schedule declared in code: `task` is a task as POST /api/v1/tasks takes it
    (checked against that body when the worker is built)."""

    tenant_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    task: Mapping[str, Any]
    missed: MissedPolicy


@dataclass(frozen=True, slots=True)
class HandledTypes:
    """What the workers handle themselves: task types with a handler of their own, and
    capabilities whose built-in handler an app replaced."""

    types: frozenset[str] = frozenset()
    capabilities: frozenset[CapabilityType] = frozenset()

    def runs_builtin(self, task_type: str, capability: CapabilityType | None) -> bool:
        """Whether a task of this type and capability runs a built-in capability handler."""
        return (
            capability is not None
            and task_type not in self.types
            and capability not in self.capabilities
        )


class HandlerDirectory(Protocol):
    """Where workers record the handlers they run, for the API to read: handlers live
    in the worker processes, so this is how the API learns of them."""

    async def record(
        self, worker_id: str, types: Collection[str], capabilities: Collection[CapabilityType]
    ) -> None:
        """Note that `worker_id` handles these task types, and replaced the built-in
        handler of these capabilities."""
        ...

    async def handled(self) -> HandledTypes:
        """Every task type and replaced capability any worker has recorded."""
        ...


class HandlerRegistry:
    """Handlers by task type, with optional fallbacks by CapabilityType."""

    def __init__(self) -> None:
        self._by_type: dict[str, HandlerSpec] = {}
        self._by_capability: dict[CapabilityType, HandlerSpec] = {}
        self._schedules: dict[tuple[uuid.UUID, str], ScheduleDeclaration] = {}

    def schedule(
        self,
        name: str,
        cron: str,
        *,
        task: str | Mapping[str, Any],
        tenant_id: uuid.UUID,
        timezone: str = "UTC",
        missed: MissedPolicy | str = MissedPolicy.SKIP,
    ) -> None:
        """Declare a schedule: `task` (a task type, or a task as POST /api/v1/tasks takes
        it) starts at every tick of `cron` in `timezone`, for `tenant_id`. Workers store
        it as they start (upsert by tenant and name); one that disappears from the code
        is paused, as retired, when a worker handling its task type next starts."""
        spec = {"type": task} if isinstance(task, str) else dict(task)
        check_timezone(timezone)
        declared = ScheduleDeclaration(
            tenant_id, name, check_cron(cron), timezone, spec, MissedPolicy(missed)
        )
        if (tenant_id, name) in self._schedules:
            raise ValueError(f"a schedule named {name!r} is already declared for {tenant_id}")
        self._schedules[(tenant_id, name)] = declared

    @property
    def schedules(self) -> list[ScheduleDeclaration]:
        """The schedules declared in code, by tenant and name."""
        return [self._schedules[key] for key in sorted(self._schedules, key=str)]

    def handler(
        self,
        task_type: str,
        *,
        executor: Executor | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        """Decorator: register `func` for `task_type`."""

        def register(func: HandlerFunc) -> HandlerFunc:
            self.register(task_type, func, executor=executor, retry=retry, timeout=timeout)
            return func

        return register

    def register(
        self,
        task_type: str,
        func: HandlerFunc,
        *,
        executor: Executor | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        """Register `func` for `task_type`; registering a type twice is a mistake."""
        if task_type in self._by_type:
            raise ValueError(f"a handler for task type {task_type!r} is already registered")
        self._by_type[task_type] = HandlerSpec(
            task_type, func, _executor_for(func, executor), retry, timeout
        )

    def register_capability(
        self,
        capability: CapabilityType,
        func: HandlerFunc,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        builtin: bool = False,
    ) -> None:
        """Handle tasks of any type with this capability when no type handler matches.
        `builtin` marks the service's own handlers (app.application.capabilities)."""
        self._by_capability[capability] = HandlerSpec(
            f"capability:{capability}", func, _executor_for(func, None), retry, timeout, builtin
        )

    def include(self, other: HandlerRegistry) -> None:
        """Add every handler of `other` (types must not clash)."""
        for spec in other._by_type.values():
            self.register(
                spec.type,
                spec.func,
                executor=spec.executor,
                retry=spec.retry,
                timeout=spec.timeout_seconds,
            )
        for capability, spec in other._by_capability.items():
            self._by_capability.setdefault(capability, spec)
        for key, declared in other._schedules.items():
            if key in self._schedules:
                raise ValueError(f"a schedule named {key[1]!r} is already declared for {key[0]}")
            self._schedules[key] = declared

    def resolve(self, task_type: str, capability: CapabilityType | None) -> HandlerSpec | None:
        """The handler for a task: by type first, then by capability."""
        spec = self._by_type.get(task_type)
        if spec is None and capability is not None:
            spec = self._by_capability.get(capability)
        return spec

    def replaced_capabilities(self) -> frozenset[CapabilityType]:
        """Capabilities handled by an app's own handler rather than the built-in one."""
        return frozenset(c for c, spec in self._by_capability.items() if not spec.builtin)

    def uses(self, executor: Executor) -> bool:
        """Whether any handler runs on `executor` ("async", "thread" or "process")."""
        specs = [*self._by_type.values(), *self._by_capability.values()]
        return any(spec.executor == executor for spec in specs)

    def __contains__(self, task_type: object) -> bool:
        return task_type in self._by_type

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_type))


def _executor_for(func: HandlerFunc, executor: Executor | None) -> Executor:
    is_async = inspect.iscoroutinefunction(func)
    if executor is None:
        return "async" if is_async else "thread"
    if executor == "async" and not is_async:
        raise ValueError(f"{func!r} is not an async function; use executor='thread'")
    if executor in {"thread", "process"} and is_async:
        raise ValueError(f"{func!r} is async; run it with executor='async'")
    return executor
