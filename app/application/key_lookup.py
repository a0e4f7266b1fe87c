"""Who is behind a presented API key, at a bounded cost for keys that are not live.

A live key is trusted for KEY_CACHE_SECONDS (PrincipalCache). A key the database did
not know is remembered as unknown for as long, so repeating a bad key costs nothing;
the same key asked for many times at once is looked up once; and at most `at_once`
lookups run together, so a flood of new bad keys holds a few database connections,
never the whole pool.
"""

from __future__ import annotations

import asyncio
import functools
import time

from app.application.auth import (
    KEY_CACHE_SECONDS,
    Principal,
    PrincipalCache,
    TenantRepository,
    authenticate,
)
from app.domain.api_keys import hash_api_key
from app.domain.expiring_set import ExpiringSet

MAX_KEY_CHARS = 200


class KeyLookup:
    """Finds the principal behind a key: remembered answers first, then the database."""

    def __init__(
        self,
        tenants: TenantRepository,
        *,
        cache: PrincipalCache | None = None,
        unknown_ttl: float = KEY_CACHE_SECONDS,
        at_once: int = 4,
        max_remembered: int = 10_000,
    ) -> None:
        self.tenants = tenants
        self.cache = cache if cache is not None else PrincipalCache()
        # Unknown keys (by hash) seen lately: a key created since is refused this long.
        self.unknown = ExpiringSet(unknown_ttl, max_items=max_remembered)
        self._lookups = asyncio.Semaphore(at_once)
        self._pending: dict[bytes, asyncio.Future[Principal | None]] = {}

    async def principal(self, key: str, now: float | None = None) -> Principal | None:
        """The live key's principal, or None for an unknown or revoked key."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        now = time.monotonic() if now is None else now
        key_hash = hash_api_key(key)
        found = self.cache.get(key_hash, now)
        if found is not None:
            return found
        if self.unknown.contains(key_hash, now):
            return None
        pending = self._pending.get(key_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(key, key_hash, now))
            self._pending[key_hash] = pending
            pending.add_done_callback(functools.partial(self._forget, key_hash))
        # Shielded: a caller that goes away does not cancel the others' lookup.
        return await asyncio.shield(pending)

    def _forget(self, key_hash: bytes, done: asyncio.Future[Principal | None]) -> None:
        self._pending.pop(key_hash, None)
        if not done.cancelled():
            done.exception()  # retrieved: a failure every caller left is not logged as lost

    async def _look_up(self, key: str, key_hash: bytes, now: float) -> Principal | None:
        # `now` was taken before the query (as authenticate() does), so neither answer
        # is trusted past its bound counted from when the database gave it.
        async with self._lookups:
            found = await authenticate(key, tenants=self.tenants, cache=self.cache, now=now)
        if found is None:
            self.unknown.add(key_hash, now)
        return found
