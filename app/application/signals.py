"""Use cases on signals: send one (idempotent on its id), read one back.

A signal is a fact from outside: (name, key, data). Sending it resumes every task of
the tenant waiting for that name and key, and keeps it for a window, so a wait
registered shortly after still finds it (docs/design/signals.md).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from app.application.signal_store import SignalRecord, SignalStore
from app.domain import waits
from app.domain.errors import DomainError
from app.domain.ids import new_task_id

# The longest a signal may be kept: a month.
MAX_RETENTION_SECONDS = 30 * 86_400


@dataclass(frozen=True, slots=True)
class SendSignal:
    """Command: the signal (name, key) with its data, for one tenant.

    `id` makes retries safe: the same id with the same signal answers the first
    delivery again; with another signal it is a conflict. Without one, a new id is made.
    `retention_seconds` (None: the service's default) is how long it is kept."""

    tenant_id: uuid.UUID
    name: str
    key: str
    data: Any = None
    id: uuid.UUID | None = None
    retention_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class SignalSent:
    """The signal as kept, and whether this call kept it (False: a replay of its id)."""

    signal: SignalRecord
    created: bool


class SignalNotFound(DomainError):
    def __init__(self, signal_id: uuid.UUID) -> None:
        super().__init__(f"signal {signal_id} was not found")
        self.signal_id = signal_id


class SignalIdReused(DomainError):
    """The signal id was used before for a different signal."""

    def __init__(self, signal_id: uuid.UUID) -> None:
        super().__init__(f"signal id {signal_id} was already used with a different signal")
        self.signal_id = signal_id


class InvalidSignal(DomainError):
    """A name, key or retention the service cannot keep."""


def signal_fingerprint(command: SendSignal) -> str:
    """What makes two deliveries of one id 'the same signal': name, key, data and the
    retention asked for (not the tenant: ids are per tenant already)."""
    body = {
        "name": command.name,
        "key": command.key,
        "data": command.data,
        "retentionSeconds": command.retention_seconds,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def check_signal(command: SendSignal) -> None:
    """InvalidSignal unless a wait could name this signal and its window is allowed."""
    try:
        waits.check_signal_name(command.name, command.key)
    except waits.WaitError as error:
        raise InvalidSignal(str(error)) from error
    seconds = command.retention_seconds
    if seconds is not None and not 1 <= seconds <= MAX_RETENTION_SECONDS:
        raise InvalidSignal(f"retentionSeconds must be between 1 and {MAX_RETENTION_SECONDS}")


async def send_signal(
    command: SendSignal, *, signals: SignalStore, default_retention_seconds: float
) -> SignalSent:
    """Keep a signal and resume every task of its tenant waiting for its name and key,
    in one transaction. A replay of its id answers the first delivery (nothing changes);
    the id reused for another signal is SignalIdReused."""
    check_signal(command)
    signal_id = command.id or new_task_id()
    request_hash = signal_fingerprint(command)
    delivery = await signals.send(
        command.tenant_id,
        signal_id,
        command.name,
        command.key,
        command.data,
        request_hash=request_hash,
        retention_seconds=command.retention_seconds or default_retention_seconds,
    )
    if not delivery.created and delivery.request_hash != request_hash:
        raise SignalIdReused(signal_id)
    return SignalSent(delivery.signal, delivery.created)


async def get_signal(
    tenant_id: uuid.UUID, signal_id: uuid.UUID, *, signals: SignalStore
) -> SignalRecord:
    """One signal of the tenant; SignalNotFound for another tenant's or a pruned one."""
    found = await signals.get(tenant_id, signal_id)
    if found is None:
        raise SignalNotFound(signal_id)
    return found
