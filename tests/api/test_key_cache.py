"""The API trusts a successful key lookup for KEY_CACHE_SECONDS, never a failed one."""

from __future__ import annotations

import asyncio
import uuid

from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.application.auth import KEY_CACHE_SECONDS, Principal, PrincipalCache, authenticate
from app.bootstrap import running_services
from app.config import load_settings
from app.domain.api_keys import hash_api_key, visible_prefix
from tests.api.conftest import Caller, assert_problem

ACME = Principal(uuid.uuid4(), uuid.uuid4(), "acme", is_admin=False)


class CountingTenants:
    """Answers lookups for one live key and counts every lookup."""

    def __init__(self, live_key: str) -> None:
        self.live_hash = hash_api_key(live_key)
        self.lookups = 0

    async def authenticate(self, key_hash: bytes) -> Principal | None:
        self.lookups += 1
        return ACME if key_hash == self.live_hash else None


async def test_a_live_key_is_looked_up_once_within_the_bound() -> None:
    tenants, cache = CountingTenants("atk_live"), PrincipalCache(ttl=2.0)
    for now in (10.0, 10.5, 11.9):
        assert await authenticate("atk_live", tenants=tenants, cache=cache, now=now) == ACME
    assert tenants.lookups == 1


async def test_a_cached_key_is_looked_up_again_once_the_bound_has_passed() -> None:
    tenants, cache = CountingTenants("atk_live"), PrincipalCache(ttl=2.0)
    await authenticate("atk_live", tenants=tenants, cache=cache, now=10.0)
    await authenticate("atk_live", tenants=tenants, cache=cache, now=12.0)
    assert tenants.lookups == 2


async def test_an_unknown_or_revoked_key_is_looked_up_every_time() -> None:
    tenants, cache = CountingTenants("atk_live"), PrincipalCache(ttl=2.0)
    for now in (10.0, 10.1, 10.2):
        assert await authenticate("atk_other", tenants=tenants, cache=cache, now=now) is None
    assert tenants.lookups == 3


async def test_a_revoked_key_stops_working_within_the_bound(
    acme: Caller, database_url: str
) -> None:
    assert (await acme.http.get("/api/v1/tasks")).status_code == 200  # now cached
    settings = load_settings(database_url=database_url, log_console=False)
    async with running_services(settings, process="test") as services:
        assert await PgTenantRepository(services.pool).revoke(visible_prefix(acme.key))
    await asyncio.sleep(KEY_CACHE_SECONDS)
    problem = assert_problem(await acme.http.get("/api/v1/tasks"), 401)
    assert "revoked" in problem["detail"]


def test_a_full_cache_forgets_its_oldest_key_not_every_key() -> None:
    cache = PrincipalCache(ttl=60.0, max_keys=3)
    for number in range(3):
        cache.put(bytes([number]), ACME, now=float(number))
    cache.put(bytes([0]), ACME, now=3.0)  # stored again: now the newest
    cache.put(b"new", ACME, now=4.0)  # full: the oldest (key 1) goes
    assert cache.get(bytes([1]), now=5.0) is None
    assert all(cache.get(key, now=5.0) == ACME for key in (bytes([0]), bytes([2]), b"new"))
