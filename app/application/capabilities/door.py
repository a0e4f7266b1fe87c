"""The built-in capability handlers' payload check, run by the API before a task is queued.

A task whose type has no handler of its own but names a capabilityType runs that
capability's built-in handler, which refuses a payload that does not fit its schema
(app.application.capabilities.payloads): checked at the door, a wrong payload is a 422
naming the field instead of a 202 and a dead letter. Handlers live in the workers, so
the API learns which types have their own from the directory the workers record them
in (HandlerDirectory), read at most every few seconds.

The door checks what the handler's model checks, with the limits every worker uses
(the counts and lengths in CapabilityLimits that no setting changes). What depends on
a worker's settings (the integration allow-list, image URLs allowed, image sizes) is
still checked by the worker.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.application.capabilities.catalogue import PAYLOAD_MODELS
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import RulesPayload, describe
from app.application.handlers import HandledTypes, HandlerDirectory
from app.domain.enums import CapabilityType
from app.domain.rules import RuleError, compile_rules

MAX_ERRORS_REPORTED = 5
DIRECTORY_MAX_AGE_SECONDS = 5.0
_DOOR_LIMITS = CapabilityLimits()
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class PayloadError:
    """One field of a payload that does not fit: `field` is a dotted path from the
    task ("payload.candidates", "payload.rules.0.when")."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class TaskPayloadErrors:
    """The payload errors of one task of a request (index 0 for a single task)."""

    index: int
    capability: CapabilityType
    errors: tuple[PayloadError, ...]


def builtin_payload_errors(
    capability: CapabilityType, payload: Mapping[str, Any]
) -> tuple[PayloadError, ...]:
    """What the built-in handler of `capability` would refuse in `payload` (empty: fits)."""
    model = PAYLOAD_MODELS[capability]
    try:
        parsed = model.model_validate(dict(payload), context={"limits": _DOOR_LIMITS})
    except ValidationError as error:
        details = error.errors(include_url=False, include_input=False)
        return tuple(
            PayloadError(_dotted(("payload", *d["loc"])), describe(d))
            for d in details[:MAX_ERRORS_REPORTED]
        )
    if isinstance(parsed, RulesPayload):
        try:
            compile_rules(
                parsed.rules,
                path="payload.rules",
                max_rules=_DOOR_LIMITS.rule_max_count,
                max_depth=_DOOR_LIMITS.rule_max_depth,
            )
        except RuleError as error:
            return (PayloadError(_INDEX.sub(r".\1", error.path), error.reason),)
    return ()


async def check_builtin_payloads(
    tasks: Sequence[tuple[str, CapabilityType | None, Mapping[str, Any]]],
    *,
    directory: HandlerDirectory,
) -> list[TaskPayloadErrors]:
    """The tasks (type, capability, payload) that would run a built-in capability handler
    with a payload it refuses; the directory is read only if a task names a capability."""
    if all(capability is None for _, capability, _ in tasks):
        return []
    handled = await directory.handled()
    found = []
    for index, (task_type, capability, payload) in enumerate(tasks):
        if capability is None or not handled.runs_builtin(task_type, capability):
            continue
        errors = builtin_payload_errors(capability, payload)
        if errors:
            found.append(TaskPayloadErrors(index, capability, errors))
    return found


def _dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


class CachedHandlerDirectory:
    """A HandlerDirectory whose `handled()` is read again at most every `max_age`
    seconds, by one caller at a time: a new handler counts within seconds, and the
    busy POST path costs no query."""

    def __init__(
        self,
        inner: HandlerDirectory,
        *,
        max_age: float = DIRECTORY_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._max_age = max_age
        self._clock = clock
        self._value: HandledTypes | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def record(
        self, worker_id: str, types: Collection[str], capabilities: Collection[CapabilityType]
    ) -> None:
        await self._inner.record(worker_id, types, capabilities)
        self._value = None

    async def handled(self) -> HandledTypes:
        value = self._fresh()
        if value is not None:
            return value
        async with self._lock:
            value = self._fresh()
            if value is None:
                value = await self._inner.handled()
                self._value, self._read_at = value, self._clock()
            return value

    def _fresh(self) -> HandledTypes | None:
        if self._value is not None and self._clock() - self._read_at < self._max_age:
            return self._value
        return None
