"""Where a tenant-wide event stream is, such that resuming from it never skips an event.

Event ids come from a sequence, so they are handed out in the order transactions
ask for them, not the order they commit: a slow transaction can commit event 50 after
a fast one committed event 60. A stream that remembered "60" would never look below
it again, and event 50 would be lost.

So the stream remembers two things: `final`, below which every event has been
delivered (or can no longer appear), and the ids above it it has already sent. Each
read also tells the bounds of the database snapshot it ran in: every transaction with
an xid below `snapshot_xmin` has ended, and none at or above `snapshot_xmax` had
started. The ids a read saw were handed out before it ran, so once a later read's
`snapshot_xmin` reaches that read's `snapshot_xmax`, every transaction that might still
have held one of those ids has ended, and the read's last id becomes final.

Events are sent as soon as they are visible, so a late-committing event comes after
later-numbered ones; a client resuming from `final` may see an event twice (dedupe on
its id), never miss one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class StreamCursor:
    """A tenant stream's position: `final` is the resume point (the SSE id)."""

    final: int
    # Ids above `final` already sent (they may be read again until `final` passes them).
    sent: set[int] = field(default_factory=set)
    # (last id of a read, its snapshot's xmax): that id becomes final once a read's
    # snapshot_xmin reaches the xmax. Oldest first; xmax never decreases.
    pending: list[tuple[int, int]] = field(default_factory=list)

    def take(
        self, ids: Sequence[int], *, snapshot_xmin: int, snapshot_xmax: int, page_full: bool
    ) -> list[int]:
        """The ids of one read (ascending, all above `final`) → those not yet sent.

        `page_full`: the read stopped at its limit, so ids past its last were not read
        and `final` must not pass it.
        """
        new = [event_id for event_id in ids if event_id not in self.sent]
        self.sent.update(new)
        if ids:
            self.pending.append((ids[-1], snapshot_xmax))
        read_up_to = ids[-1] if page_full and ids else None
        while self.pending and self.pending[0][1] <= snapshot_xmin:
            frontier, _ = self.pending[0]
            if read_up_to is not None and frontier > read_up_to:
                break
            self.pending.pop(0)
            self.final = max(self.final, frontier)
        self.sent = {event_id for event_id in self.sent if event_id > self.final}
        return new

    @property
    def settling(self) -> bool:
        """Whether some ids sent are not yet final: read again soon, not on the next wake."""
        return bool(self.pending)
