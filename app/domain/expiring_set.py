"""A bounded set whose members are forgotten `ttl` seconds after they were added."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ExpiringSet:
    """Members remembered for `ttl` seconds, at most `max_items` of them.

    Past `max_items` the oldest member goes first (members are added in time order, so
    it is also the one closest to expiring). Lookups and additions are O(1).
    """

    def __init__(self, ttl: float, *, max_items: int = 10_000) -> None:
        self.ttl = ttl
        self._expires: OrderedDict[Hashable, float] = OrderedDict()
        self._max_items = max(max_items, 1)

    def __len__(self) -> int:
        return len(self._expires)

    def contains(self, item: Hashable, now: float) -> bool:
        """Whether `item` was added less than `ttl` seconds before `now`."""
        expires = self._expires.get(item)
        if expires is None:
            return False
        if now >= expires:
            del self._expires[item]
            return False
        return True

    def add(self, item: Hashable, now: float) -> None:
        """Remember `item` until `now + ttl`."""
        self._expires.pop(item, None)
        while len(self._expires) >= self._max_items:
            self._expires.popitem(last=False)
        self._expires[item] = now + self.ttl
