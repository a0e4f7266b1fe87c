"""Requests (or streams) open at once, counted per holder and capped."""

from __future__ import annotations

from collections import Counter


class InFlight:
    """How many things each holder has open right now; at most `limit` each (0: no cap).

    Only holders with something open are tracked, so memory follows what is in flight,
    not how many holders ever came.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self.total = 0

    def __getitem__(self, holder: str) -> int:
        return self._open.get(holder, 0)

    def full(self, holder: str) -> bool:
        """Whether `holder` is at its cap."""
        return 0 < self.limit <= self._open.get(holder, 0)

    def try_acquire(self, holder: str) -> bool:
        """Count one more for `holder`, unless it is at its cap."""
        if self.full(holder):
            return False
        self._open[holder] += 1
        self.total += 1
        return True

    def release(self, holder: str) -> None:
        """One fewer for `holder` (each acquire is released once)."""
        left = self._open.get(holder, 0) - 1
        if left < 0:
            return
        if left:
            self._open[holder] = left
        else:
            del self._open[holder]
        self.total -= 1
