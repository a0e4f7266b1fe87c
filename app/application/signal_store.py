"""The signal port (docs/design/signals.md), as a Protocol, and the records that cross it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A signal as kept: what was sent, when, until when, and how many waiting tasks it
    resumed when it arrived."""

    id: uuid.UUID
    name: str
    key: str
    data: Any
    received_at: datetime
    expires_at: datetime
    resumed: int


@dataclass(frozen=True, slots=True)
class SignalDelivery:
    """What `SignalStore.send` did: kept a new signal (`created`), or found the id used
    before, and then the signal kept under it and the fingerprint it was sent with."""

    created: bool
    request_hash: str
    signal: SignalRecord


class SignalStore(Protocol):
    """Signals in the database (docs/design/signals.md)."""

    async def send(
        self,
        tenant_id: uuid.UUID,
        signal_id: uuid.UUID,
        name: str,
        key: str,
        data: Any,
        *,
        request_hash: str,
        retention_seconds: float,
    ) -> SignalDelivery:
        """Keep the signal for `retention_seconds` and resume, in the same transaction,
        every task of the tenant waiting for (name, key); an id used before changes
        nothing and answers what is kept under it."""
        ...

    async def get(self, tenant_id: uuid.UUID, signal_id: uuid.UUID) -> SignalRecord | None:
        """One signal of one tenant (kept, even past its window until pruned), or None."""
        ...
