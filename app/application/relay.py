"""The outbox relay: every task event reaches RabbitMQ at least once, each task's in order.

One relay is active at a time (an advisory lock; others wait to take over). A
read returns only each task's oldest pending event, so a task's events leave in
the order their transactions committed whatever happened to earlier batches (a
refused or unconfirmed event holds back its own task only). A batch is published
with publisher confirms; only what the broker confirmed is archived, so a relay
killed between publish and archive publishes those events again on restart (same
message id: consumers dedupe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

log = structlog.get_logger("app.relay")


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One pending event as stored in the outbox."""

    id: int
    reads: int
    enqueued_at: datetime
    body: Mapping[str, Any]
    refusals: int = 0

    @property
    def task_id(self) -> str:
        return str(self.body.get("taskId", ""))


@dataclass(slots=True)
class PublishResult:
    """What the broker did with a batch: confirmed ids, and refusals by id."""

    confirmed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


class BrokerUnavailable(Exception):
    """The broker cannot be reached; `result` holds what was confirmed before that."""

    def __init__(self, reason: str, result: PublishResult | None = None) -> None:
        super().__init__(reason)
        self.result = result or PublishResult()


class Outbox(Protocol):
    """The outbox queue in Postgres (PGMQ)."""

    async def try_lead(self) -> bool:
        """Hold the active-relay lock; True while held."""
        ...

    async def resign(self) -> None: ...

    async def reclaim(self) -> None:
        """Make messages a previous relay had read visible again at once."""
        ...

    async def read(self, limit: int, vt_seconds: int) -> list[OutboxMessage]:
        """The oldest pending messages, hidden from other readers for `vt_seconds`."""
        ...

    async def archive(self, ids: Sequence[int]) -> None: ...

    async def release(self, ids: Sequence[int]) -> None:
        """Make messages visible again now."""
        ...

    async def note_refusal(self, message_id: int, error: str, delay_seconds: float) -> None: ...

    async def set_aside(self, message_id: int, error: str) -> None:
        """Archive a message the broker keeps refusing, with its error."""
        ...

    async def lag(self) -> tuple[int, float]:
        """Pending messages and the age in seconds of the oldest."""
        ...

    async def prune_published(self, retention_seconds: float, limit: int) -> int: ...


class EventPublisher(Protocol):
    """The broker side: publish with confirms."""

    async def publish(self, messages: Sequence[OutboxMessage]) -> PublishResult:
        """Publish in order; raise BrokerUnavailable if the broker cannot be reached."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 1000
    # Longer than the worst publish (connect + confirms), so no batch is read twice at once.
    vt_seconds: int = 60
    idle_seconds: float = 0.1
    max_refusals: int = 5
    # A refused event waits refusal_backoff_seconds * 2^(reads-1) before its next try.
    refusal_backoff_seconds: float = 1.0
    retention_seconds: float = 7 * 86_400
    prune_every_seconds: float = 60.0
    backoff_max_seconds: float = 30.0


@dataclass(slots=True)
class RelayCounts:
    published: int = 0
    refused: int = 0
    set_aside: int = 0


class Relay:
    """Drains the outbox into the broker while this process is the active relay."""

    def __init__(self, outbox: Outbox, publisher: EventPublisher, config: RelayConfig) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self.config = config
        self.totals = RelayCounts()
        self.state = "starting"
        self._last_prune = 0.0

    async def run_once(self) -> RelayCounts:
        """Read one batch, publish it and record the outcome; raises BrokerUnavailable."""
        counts = RelayCounts()
        published = await self._publish_next()
        if published is not None:
            await self._settle(*published, counts)
        return counts

    async def _publish_next(self) -> tuple[PublishResult, list[OutboxMessage]] | None:
        """Read one batch and publish it; None when nothing is waiting."""
        batch = await self._outbox.read(self.config.batch_size, self.config.vt_seconds)
        if not batch:
            return None
        try:
            result = await self._publisher.publish(batch)
        except BrokerUnavailable as error:
            # A snapshot: late confirms must not change what we archive or release.
            partial = PublishResult(list(error.result.confirmed), dict(error.result.refused))
            await self._settle(partial, batch, RelayCounts())
            settled = set(partial.confirmed) | set(partial.refused)
            await self._outbox.release([m.id for m in batch if m.id not in settled])
            raise
        return result, batch

    async def _settle_new(
        self, result: PublishResult, batch: Sequence[OutboxMessage]
    ) -> RelayCounts:
        counts = RelayCounts()
        await self._settle(result, batch, counts)
        return counts

    async def _settle(
        self, result: PublishResult, batch: Sequence[OutboxMessage], counts: RelayCounts
    ) -> None:
        if result.confirmed:
            await self._outbox.archive(result.confirmed)
            counts.published += len(result.confirmed)
        by_id = {m.id: m for m in batch}
        for message_id, error in result.refused.items():
            refusals = by_id[message_id].refusals + 1 if message_id in by_id else 1
            if refusals >= self.config.max_refusals:
                await self._outbox.set_aside(message_id, error)
                counts.set_aside += 1
                log.error("event_set_aside", message_id=message_id, error=error)
            else:
                # The event, and its task's later events, wait; other tasks go on.
                delay = self.config.refusal_backoff_seconds * 2.0 ** (refusals - 1)
                await self._outbox.note_refusal(message_id, error, delay_seconds=delay)
                counts.refused += 1
        self.totals.published += counts.published
        self.totals.refused += counts.refused
        self.totals.set_aside += counts.set_aside

    async def close(self) -> None:
        """Give up the active-relay lock and the broker connection."""
        await self._outbox.resign()
        await self._publisher.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; a standby relay takes over when the active one dies.

        One batch is recorded (archived) while the next is read and published: the
        read skips any task whose earlier event is still in the outbox, so overlapping
        them keeps every task's events in order.
        """
        backoff = 0.5
        settling: asyncio.Task[RelayCounts] | None = None
        try:
            while not stop.is_set():
                if not await self._lead():
                    await _sleep(stop, 1.0)
                    continue
                try:
                    published = await self._publish_next()
                    if settling is not None:
                        previous, settling = settling, None
                        await previous
                    if published is not None:
                        settling = asyncio.create_task(self._settle_new(*published))
                    self._set_state("publishing")
                    backoff = 0.5
                except BrokerUnavailable as error:
                    self._set_state("broker_unavailable", reason=str(error), retry_in=backoff)
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_seconds)
                    continue
                except Exception as error:  # the database may be away; keep going gently
                    self._set_state("database_unavailable", error_type=type(error).__name__)
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_seconds)
                    continue
                await self._maybe_prune()
                if published is None:
                    await _sleep(stop, self.config.idle_seconds)
        finally:
            if settling is not None:
                with contextlib.suppress(Exception):
                    await settling
            await self.close()

    async def _lead(self) -> bool:
        was_leading = self.state not in {"starting", "standby"}
        leading = await self._outbox.try_lead()
        if leading and not was_leading:
            await self._outbox.reclaim()
            self._set_state("publishing")
        elif not leading:
            self._set_state("standby")
        return leading

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < self.config.prune_every_seconds:
            return
        self._last_prune = time.monotonic()
        pruned = await self._outbox.prune_published(self.config.retention_seconds, 1000)
        if pruned:
            log.info("published_events_pruned", count=pruned)

    def _set_state(self, state: str, **details: Any) -> None:
        """Log once per change of state, not once per message."""
        if state != self.state:
            log.info("relay_state", state=state, previous=self.state, **details)
            self.state = state


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
