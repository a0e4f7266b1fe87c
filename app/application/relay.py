"""The outbox relay: every task event reaches RabbitMQ at least once, each task's in order.

One relay is active at a time (an advisory lock; others wait to take over). It reads
outbox messages oldest first; each holds the events one statement wrote. Their
events go out with publisher confirms, in waves that carry each task at most once
(app.domain.outbox_delivery), so an event the broker refuses holds back only its own
task: it and the task's later events move into held messages, which leave in order
per task. Only what the broker confirmed is archived, so a relay killed between
publish and archive publishes those events again on restart (same message id:
consumers dedupe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from app.domain.outbox_delivery import Delivery, Hold, OutboxEvent, OutboxMessage, Settlement

log = structlog.get_logger("app.relay")

EVENT_GONE = "its event was pruned before it was published"


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

    async def read(self, limit: int, max_events: int, vt_seconds: int) -> list[OutboxMessage]:
        """The oldest pending messages with their events (at most `limit` messages, and
        none more once `max_events` events are read), hidden from other readers for
        `vt_seconds`; a held message only while it is its task's oldest."""
        ...

    async def settle(
        self, archive: Sequence[int], holds: Sequence[Hold], refusal_delay: float
    ) -> dict[int, int]:
        """In one transaction: move `holds` into held messages of their own, in order (a
        refused one counted once and hidden for `refusal_delay` seconds), and archive
        the messages in `archive`. Returns the new held message id of each event id."""
        ...

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

    async def connect(self) -> None:
        """Be connected, with the topology declared (at once if already so); raise
        BrokerUnavailable if the broker cannot be reached."""
        ...

    async def publish(self, events: Sequence[OutboxEvent]) -> PublishResult:
        """Publish in order, answering by event id; raise BrokerUnavailable if the
        broker cannot be reached."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RelayConfig:
    # Messages per read; each holds the events of one statement (one to a few hundred).
    batch_size: int = 100
    # Events per read: a read stops at the message that reaches this many.
    batch_events: int = 2000
    # Longer than the worst publish (connect + confirms), so no batch is read twice at once.
    vt_seconds: int = 60
    # With nothing to publish, look again after first_idle_seconds, doubling up to
    # idle_seconds: a busy outbox is read within milliseconds, an idle one ten times a
    # second.
    idle_seconds: float = 0.1
    first_idle_seconds: float = 0.002
    max_refusals: int = 5
    # A refused event waits refusal_backoff_seconds * 2^(reads-1) before its next try.
    refusal_backoff_seconds: float = 1.0
    retention_seconds: float = 7 * 86_400
    prune_every_seconds: float = 60.0
    # Retry a lost database or broker at most this long after it is back.
    backoff_max_seconds: float = 5.0


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
        # What the relay last saw of each dependency (None until it tried), for health.
        self.broker_up: bool | None = None
        self.database_up: bool | None = None
        self._leading = False
        self._last_prune = 0.0

    async def run_once(self) -> RelayCounts:
        """Read one batch, publish it and record the outcome; raises BrokerUnavailable."""
        delivery = await self._publish_next()
        if delivery is None:
            return RelayCounts()
        return await self._settle(delivery.settlement())

    async def _publish_next(self) -> Delivery | None:
        """Read one batch and publish its events, wave by wave; None when nothing waits.
        If the broker goes away, what is known is settled, the rest released, and
        BrokerUnavailable raised."""
        messages = await self._outbox.read(
            self.config.batch_size, self.config.batch_events, self.config.vt_seconds
        )
        if not messages:
            return None
        delivery = Delivery(messages)
        while wave := delivery.next_wave():
            try:
                result = await self._publisher.publish(wave)
            except BrokerUnavailable as error:
                # A snapshot: late confirms must not change what we archive or release.
                delivery.record(list(error.result.confirmed), dict(error.result.refused))
                await self._settle(delivery.settlement())
                raise
            delivery.record(result.confirmed, result.refused)
        return delivery

    async def _settle(self, settlement: Settlement) -> RelayCounts:
        counts = RelayCounts(published=settlement.published)
        if settlement.archive or settlement.holds:
            held = await self._outbox.settle(
                settlement.archive, settlement.holds, self.config.refusal_backoff_seconds
            )
            for hold in settlement.holds:
                if hold.error is None:
                    continue
                if self.config.max_refusals <= 1:
                    await self._set_aside(held[hold.event.id], hold.error, counts)
                else:
                    counts.refused += 1
        for message, error in settlement.refused_held:
            refusals = message.refusals + 1
            if refusals >= self.config.max_refusals:
                await self._set_aside(message.id, error, counts)
            else:
                # The event, and its task's later events, wait; other tasks go on.
                delay = self.config.refusal_backoff_seconds * 2.0 ** (refusals - 1)
                await self._outbox.note_refusal(message.id, error, delay_seconds=delay)
                counts.refused += 1
        for message in settlement.gone:
            await self._set_aside(message.id, EVENT_GONE, counts)
        await self._outbox.release(settlement.release)
        self.totals.published += counts.published
        self.totals.refused += counts.refused
        self.totals.set_aside += counts.set_aside
        return counts

    async def _set_aside(self, message_id: int, error: str, counts: RelayCounts) -> None:
        await self._outbox.set_aside(message_id, error)
        counts.set_aside += 1
        log.error("event_set_aside", message_id=message_id, error=error)

    async def close(self) -> None:
        """Give up the active-relay lock and the broker connection."""
        self._leading = False
        with contextlib.suppress(Exception):  # a lock whose session died is already free
            await self._outbox.resign()
        await self._publisher.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; a standby relay takes over when the active one dies.

        Every round first makes sure the broker connection is up (declaring the
        topology on each new connection), so the exchange exists before the first
        event and a lost broker shows even while idle. A database or broker that
        goes away is waited for with backoff; only `stop` ends the loop.

        A batch that only needs archiving is archived while the next is read and
        published: its events are all confirmed, so nothing later waits on it. A batch
        that held events back is settled first, so the next read sees its holds.
        """
        backoff = 0.5
        idle = self.config.first_idle_seconds
        settling: asyncio.Task[RelayCounts] | None = None
        try:
            while not stop.is_set():
                try:
                    await self._publisher.connect()
                    self.broker_up = True
                    if not await self._lead():
                        backoff = 0.5
                        await _sleep(stop, 1.0)
                        continue
                    delivery = await self._publish_next()
                    if settling is not None:
                        previous, settling = settling, None
                        await previous
                    if delivery is not None:
                        settlement = delivery.settlement()
                        if settlement.is_plain:
                            settling = asyncio.create_task(self._settle(settlement))
                        else:
                            await self._settle(settlement)
                    await self._maybe_prune()
                    self._set_state("publishing")
                    backoff = 0.5
                except BrokerUnavailable as error:
                    self.broker_up = False
                    self._set_state("broker_unavailable", reason=str(error), retry_in=backoff)
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_seconds)
                    continue
                except Exception as error:  # the database is away: wait for it, gently
                    # Whatever this relay had read, it reclaims once it leads again.
                    self._leading = False
                    self.database_up = False
                    self._set_state(
                        "database_unavailable", error_type=type(error).__name__, retry_in=backoff
                    )
                    await _sleep(stop, backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_seconds)
                    continue
                if delivery is None:
                    await _sleep(stop, idle)
                    idle = min(idle * 2, self.config.idle_seconds)
                else:
                    idle = min(self.config.first_idle_seconds, self.config.idle_seconds)
        finally:
            if settling is not None:
                with contextlib.suppress(Exception):
                    await settling
            await self.close()

    async def _lead(self) -> bool:
        """Hold the active-relay lock; on taking it (at start, or after losing it to a
        database outage) make what was read before visible again."""
        leading = await self._outbox.try_lead()
        self.database_up = True
        if leading and not self._leading:
            await self._outbox.reclaim()
            self._set_state("publishing")
        elif not leading:
            self._set_state("standby")
        self._leading = leading
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
