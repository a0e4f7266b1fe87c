"""Bearer API keys. Every /api/v1 request is scoped to the caller's tenant.

An admin key may act for another tenant by naming it in `X-Tenant-Id`; any
other key that does so gets a 403. Another tenant's task is always a 404, so a
caller cannot learn that it exists.
"""

from __future__ import annotations

import math
import time
import uuid

from quart import g, request

from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.application.auth import Principal, authenticate

TENANT_HEADER = "X-Tenant-Id"


async def require_api_key() -> None:
    """before_request for the v1 blueprint: 401 unless a live key is presented."""
    dependencies = deps()
    guard = dependencies.failed_auth_limiter
    address = f"addr:{request.remote_addr or 'unknown'}"
    if guard is not None and (wait := guard.waiting(address, time.monotonic())) > 0:
        raise too_many(wait, "Too many failed authentications from this address.")
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(
            401,
            "Send an API key as 'Authorization: Bearer <key>'.",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="assistente"'},
        )
    principal = await authenticate(
        key.strip(), tenants=dependencies.tenants, cache=dependencies.principals
    )
    if principal is None:
        if guard is not None:
            guard.check(address, time.monotonic())
        raise ProblemError(
            401,
            "The API key is unknown or revoked.",
            slug="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="assistente", error="invalid_token"'},
        )
    g.principal = principal
    named = request.headers.get(TENANT_HEADER)
    if named:
        g.tenant_id = await _named_tenant(principal, named)
    limiter = dependencies.rate_limiter
    if limiter is not None:
        wait = limiter.check(str(principal.key_id), time.monotonic())
        if wait > 0:
            raise too_many(wait, "Too many requests for this API key; slow down.")


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
