"""A token bucket per caller: `rate` requests a second on average, bursts up to `burst`."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens at time `now`; 0 if allowed, else the seconds until that
        many are free (a cost above the burst is never allowed: see RateLimiter.check)."""
        self.refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """Buckets by key, at most `max_keys` of them.

    Past `max_keys`, the bucket used least recently goes: the one idle longest, which is
    also the fullest (idle buckets refill). Callers who keep asking keep their bucket, so
    bringing many new keys cannot hand anyone a fresh burst; a bucket evicted before it
    had refilled belongs to a caller idle longer than every other tracked one.
    """

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        # Ordered from least to most recently used: O(1) to find, touch and evict.
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._max_keys = max(max_keys, 1)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, now: float, cost: float = 1.0) -> float:
        """0 if `key` may spend `cost` now, else the seconds to wait. A cost above the
        burst is charged as the whole burst, so the largest request still passes."""
        cost = min(cost, self.burst)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, cost)

    def waiting(self, key: str, now: float) -> float:
        """Seconds until `key` may proceed, without spending anything (0 if it may now)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        bucket.refill(now)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate
