"""One read of the outbox on its way to the broker: which events go out in which wave,
and what becomes of each message afterwards. Pure: the relay feeds it the broker's
answers and carries out the settlement.

A message holds the events one statement wrote, in order. The relay publishes them
in waves, each task at most once per wave, and learns the broker's answer for a wave
before it sends the next: so when the broker refuses an event, that task's later
events of the same read have not gone out, and they wait behind it (a "hold": a
message of its own, read only while it is its task's oldest). Events whose task
already has a held message waiting wait too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event to publish."""

    # Unique within a read: the task_events id (a message written in full before
    # pointers existed has none, and uses minus its message id).
    id: int
    message_id: int
    task_id: str
    body: Mapping[str, Any]
    # Its task has a held message waiting: this event must wait behind it.
    held_behind: bool = False


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox message as read: the events of one statement, or one held event."""

    id: int
    reads: int
    enqueued_at: datetime
    events: tuple[OutboxEvent, ...]
    # A held message carries one event and counts the broker's refusals of it.
    held: bool = False
    refusals: int = 0
    # A held message whose event was pruned before it was published.
    gone: bool = False


class Fate(enum.Enum):
    CONFIRMED = "confirmed"
    REFUSED = "refused"
    WAITS = "waits"  # not sent: its task is held back


@dataclass(frozen=True, slots=True)
class Hold:
    """An event moved into a held message of its own."""

    event: OutboxEvent
    error: str | None = None  # the broker's refusal; None when it only waits


@dataclass(slots=True)
class Settlement:
    """What to write once a read is over."""

    archive: list[int] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    # Held messages the broker refused again, with the refusal.
    refused_held: list[tuple[OutboxMessage, str]] = field(default_factory=list)
    # Held messages whose event was pruned: set aside.
    gone: list[OutboxMessage] = field(default_factory=list)
    # Messages to make visible again at once (their events' fate is not known).
    release: list[int] = field(default_factory=list)
    published: int = 0

    @property
    def is_plain(self) -> bool:
        """Only archiving: nothing for later reads to wait on."""
        return not (self.holds or self.refused_held or self.gone or self.release)


class Delivery:
    """The events of one read, published wave by wave."""

    def __init__(self, messages: Sequence[OutboxMessage]) -> None:
        self.messages = list(messages)
        self._events = [event for message in self.messages for event in message.events]
        self._cursor = 0
        self._fate: dict[int, Fate] = {}
        self._refusal: dict[int, str] = {}
        self._blocked: set[str] = set()  # tasks held back for the rest of this read

    def next_wave(self) -> list[OutboxEvent]:
        """The next events to publish, each task at most once; empty when done."""
        wave: list[OutboxEvent] = []
        tasks: set[str] = set()
        while self._cursor < len(self._events):
            event = self._events[self._cursor]
            if event.held_behind or event.task_id in self._blocked:
                self._blocked.add(event.task_id)
                self._fate[event.id] = Fate.WAITS
            elif event.task_id in tasks:
                break  # its earlier event's answer comes first
            else:
                tasks.add(event.task_id)
                wave.append(event)
            self._cursor += 1
        return wave

    def record(self, confirmed: Iterable[int], refused: Mapping[int, str]) -> None:
        """The broker's answers for what was sent."""
        for event_id in confirmed:
            self._fate[event_id] = Fate.CONFIRMED
        by_id = {event.id: event for event in self._events}
        for event_id, reason in refused.items():
            self._fate[event_id] = Fate.REFUSED
            self._refusal[event_id] = reason
            if event_id in by_id:
                self._blocked.add(by_id[event_id].task_id)

    def settlement(self) -> Settlement:
        """What to write: messages whose every event has a known fate are settled, up
        to the first that has one unknown (the broker went away); that one and every
        later message are released whole, to be read and published again (a task's
        later events never settle ahead of its earlier ones)."""
        done = Settlement()
        settling = True
        for message in self.messages:
            fates = [self._fate.get(event.id) for event in message.events]
            if settling and None in fates:
                settling = False
            if not settling:
                done.release.append(message.id)
                continue
            if message.gone:
                done.gone.append(message)
            elif message.held:
                self._settle_held(message, done)
            else:
                for event in message.events:
                    fate = self._fate[event.id]
                    if fate is Fate.CONFIRMED:
                        done.published += 1
                    else:
                        done.holds.append(Hold(event, self._refusal.get(event.id)))
                done.archive.append(message.id)
        return done

    def _settle_held(self, message: OutboxMessage, done: Settlement) -> None:
        [event] = message.events
        fate = self._fate[event.id]
        if fate is Fate.CONFIRMED:
            done.published += 1
            done.archive.append(message.id)
        elif fate is Fate.REFUSED:
            done.refused_held.append((message, self._refusal[event.id]))
        else:  # it waits where it is: its task was held back earlier in this read
            done.release.append(message.id)
