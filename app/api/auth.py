"""Bearer API keys. Every /api/v1 request is scoped to the caller's tenant.

An admin key may act for another tenant by naming it in `X-Tenant-Id`; any
other key that does so gets a 403. Another tenant's task is always a 404, so a
caller cannot learn that it exists.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

from quart import g, request

from app.api.dependencies import ApiDependencies, deps
from app.api.problems import ProblemError
from app.application.auth import Principal
from app.domain.client_address import client_address
from app.domain.rate_limit import RateLimiter

TENANT_HEADER = "X-Tenant-Id"
API_PREFIX = "/api/"


async def require_api_key() -> None:
    """before_request for the v1 blueprint: 401 unless a live key is presented.

    A key that authenticates is never refused for what others sent from its address;
    it may be refused for its own pace (429: its rate, or its requests in progress).
    """
    dependencies = deps()
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(
            401,
            "Send an API key as 'Authorization: Bearer <key>'.",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="assistente"'},
        )
    principal = await dependencies.key_lookup.principal(key.strip())
    if principal is None:
        address = _address_key(dependencies)
        refusal = _unknown_key(dependencies.failed_auth_limiter, address)
        if refusal.status == 429:
            await _hold(dependencies, address)
        raise refusal
    g.principal = principal
    key_id = str(principal.key_id)
    limiter = dependencies.rate_limiter
    if limiter is not None and (wait := limiter.check(key_id, time.monotonic())) > 0:
        await _hold(dependencies, key_id)
        raise too_many(wait, "Too many requests for this API key; slow down.")
    in_flight = dependencies.in_flight
    if in_flight is not None:
        if not in_flight.try_acquire(key_id):
            await _hold(dependencies, key_id)
            raise too_many(
                1, f"At most {in_flight.limit} requests at once per API key; wait for one."
            )
        g.in_flight_key = key_id  # released by release_in_flight when the request ends
    named = request.headers.get(TENANT_HEADER)
    if named:
        g.tenant_id = await _named_tenant(principal, named)


async def limit_anonymous() -> None:
    """before_request for what needs no key (/health, /openapi.json, /docs): at most
    API_ANONYMOUS_PER_SECOND requests a second per client address, so nobody can spend
    the process's CPU there without a key. Keyed API calls never count against it."""
    dependencies = deps()
    limiter = dependencies.anonymous_limiter
    if limiter is None or request.path.startswith(API_PREFIX):
        return
    address = _address_key(dependencies)
    if (wait := limiter.check(address, time.monotonic())) > 0:
        await _hold(dependencies, address)
        raise too_many(wait, "Too many requests from this address to endpoints without a key.")


async def charge_tasks(count: int) -> None:
    """Spend `count` of the caller's key's task budget (API_TASKS_PER_SECOND): a batch
    of 500 costs what 500 single POSTs do, not one request. 429 (held) past it."""
    dependencies = deps()
    limiter = dependencies.task_limiter
    if limiter is None:
        return
    key_id = str(principal().key_id)
    if (wait := limiter.check(key_id, time.monotonic(), cost=count)) > 0:
        await _hold(dependencies, key_id)
        raise too_many(
            wait, f"Too many tasks queued with this API key ({limiter.rate:g} a second); slow down."
        )


async def charge_signal() -> None:
    """Spend one of the tenant's signal budget (API_SIGNALS_PER_SECOND, all its keys
    together): a flood from one tenant is refused here, before the database, so other
    tenants' signals keep going through. 429 (held) past it."""
    dependencies = deps()
    limiter = dependencies.signal_limiter
    if limiter is None:
        return
    tenant = str(tenant_scope())
    if (wait := limiter.check(tenant, time.monotonic())) > 0:
        await _hold(dependencies, str(principal().key_id))
        raise too_many(
            wait, f"Too many signals for this tenant ({limiter.rate:g} a second); slow down."
        )


def release_in_flight() -> None:
    """teardown_request: the request's place among its key's requests in progress.

    A request that begins to wait for its task gives its place back then (it is counted
    among its key's waiting requests instead: app.api.waiting); once given back, the
    teardown has nothing left to release."""
    key_id: str | None = g.pop("in_flight_key", None)
    in_flight = deps().in_flight
    if key_id is not None and in_flight is not None:
        in_flight.release(key_id)


async def held_refusal(wait: float, detail: str) -> ProblemError:
    """A 429 for the caller's key (its own pace), held as every such refusal is."""
    dependencies = deps()
    await _hold(dependencies, str(principal().key_id))
    return too_many(wait, detail)


async def _hold(dependencies: ApiDependencies, holder: str) -> None:
    """Keep a 429 back for REFUSAL_HOLD_SECONDS before it goes out.

    A client looping on 429s then idles its connections instead of spending this
    process's CPU, which other tenants need. At most `held_refusals.limit` answers per
    holder wait at once; past that they go out at once (memory stays bounded).
    """
    held = dependencies.held_refusals
    if held is None or dependencies.refusal_hold_seconds <= 0 or not held.try_acquire(holder):
        return
    try:
        await asyncio.sleep(dependencies.refusal_hold_seconds)
    finally:
        held.release(holder)


def _address_key(dependencies: ApiDependencies) -> str:
    """The client's address as a limiter key: the TCP peer, or behind a trusted proxy
    (API_TRUSTED_PROXIES) the client its forwarding headers name."""
    address = client_address(
        request.remote_addr,
        forwarded_for=request.headers.getlist("X-Forwarded-For"),
        forwarded=request.headers.getlist("Forwarded"),
        trusted=dependencies.trusted_proxies,
    )
    return f"addr:{address or 'unknown'}"


def _unknown_key(guard: RateLimiter | None, address: str) -> ProblemError:
    """401 for an unknown or revoked key; 429 once its address has sent too many."""
    if guard is not None and (wait := guard.check(address, time.monotonic())) > 0:
        return too_many(wait, "Too many failed authentications from this address.")
    return ProblemError(
        401,
        "The API key is unknown or revoked.",
        slug="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="assistente", error="invalid_token"'},
    )


def too_many(wait: float, detail: str) -> ProblemError:
    return ProblemError(
        429, detail, slug="too-many-requests", headers={"Retry-After": str(math.ceil(wait))}
    )


def principal() -> Principal:
    found: Principal = g.principal
    return found


async def _named_tenant(caller: Principal, named: str) -> uuid.UUID:
    if not caller.is_admin:
        raise ProblemError(403, f"Only admin keys may send {TENANT_HEADER}.", slug="forbidden")
    try:
        tenant_id = uuid.UUID(named)
    except ValueError as error:
        raise ProblemError(400, f"{TENANT_HEADER} must be a tenant id (UUID).") from error
    if not await deps().tenants.exists(tenant_id):
        raise ProblemError(404, f"No tenant {tenant_id}.", slug="tenant-not-found")
    return tenant_id


def tenant_scope() -> uuid.UUID:
    """The tenant this request acts for: the caller's, or the one an admin named."""
    named: uuid.UUID | None = g.get("tenant_id")
    return named or principal().tenant_id
