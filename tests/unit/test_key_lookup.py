"""Key lookups: a bad key costs the database at most one query per KEY_CACHE_SECONDS,
one query however many ask for it at once, and a flood of new keys holds only a few
connections."""

from __future__ import annotations

import asyncio
import uuid

from app.application.auth import Principal
from app.application.key_lookup import KeyLookup
from app.domain.api_keys import hash_api_key

ACME = Principal(uuid.uuid4(), uuid.uuid4(), "acme", is_admin=False)


class SlowTenants:
    """Knows one live key; each lookup takes `delay` seconds and is counted."""

    def __init__(self, live_key: str, delay: float = 0.0) -> None:
        self.live_hash = hash_api_key(live_key)
        self.delay = delay
        self.lookups = 0
        self.running = self.most_at_once = 0

    async def authenticate(self, key_hash: bytes) -> Principal | None:
        self.lookups += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        await asyncio.sleep(self.delay)
        self.running -= 1
        return ACME if key_hash == self.live_hash else None


async def test_a_repeated_bad_key_is_looked_up_once_within_the_bound() -> None:
    tenants = SlowTenants("atk_live")
    keys = KeyLookup(tenants, unknown_ttl=2.0)  # type: ignore[arg-type]
    for now in (10.0, 10.5, 11.9):
        assert await keys.principal("atk_bad", now=now) is None
    assert tenants.lookups == 1
    await keys.principal("atk_bad", now=12.0)  # the bound has passed: asked again
    assert tenants.lookups == 2


async def test_one_key_asked_for_at_once_is_looked_up_once() -> None:
    tenants = SlowTenants("atk_live", delay=0.05)
    keys = KeyLookup(tenants)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(keys.principal("atk_live") for _ in range(50)))
    assert answers == [ACME] * 50
    assert tenants.lookups == 1


async def test_many_new_keys_at_once_hold_only_a_few_connections() -> None:
    tenants = SlowTenants("atk_live", delay=0.01)
    keys = KeyLookup(tenants, at_once=3)  # type: ignore[arg-type]
    guesses = [keys.principal(f"atk_guess{n}") for n in range(40)]
    assert await asyncio.gather(*guesses) == [None] * 40
    assert tenants.lookups == 40
    assert tenants.most_at_once == 3


async def test_a_live_key_passes_while_bad_keys_are_remembered() -> None:
    tenants = SlowTenants("atk_live")
    keys = KeyLookup(tenants, max_remembered=10)  # type: ignore[arg-type]
    for n in range(100):  # more bad keys than are remembered: memory stays bounded
        await keys.principal(f"atk_guess{n}", now=1.0)
    assert len(keys.unknown) == 10
    assert await keys.principal("atk_live", now=1.0) == ACME
