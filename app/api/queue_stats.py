"""GET /api/v1/queue/stats (seed 003) and GET /api/v1/events (the tenant's live stream)."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import validate_querystring, validate_response

from app.api.auth import principal, require_api_key, tenant_scope
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.schemas import QueueStats, StatsQuery
from app.api.streams import event_stream

blueprint = Blueprint("queue", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)


@blueprint.get("/queue/stats")
@validate_querystring(StatsQuery)
@validate_response(QueueStats, 200)
async def stats(query_args: StatsQuery) -> QueueStats:
    """Counts by status, oldest waiting age, and throughput over the last minutes.

    For the caller's tenant; an admin key with `allTenants=true` sees every tenant.
    """
    if query_args.all_tenants and not principal().is_admin:
        raise ProblemError(403, "Only admin keys may ask for allTenants.", slug="forbidden")
    row = await deps().queries.stats(None if query_args.all_tenants else tenant_scope())
    return QueueStats.model_validate(
        {**row, "scope": "all" if query_args.all_tenants else str(tenant_scope())}
    )


@blueprint.get("/events")
async def tenant_events() -> Response:
    """Every new event of the caller's tasks, live (SSE), from now on or after Last-Event-ID."""
    return await event_stream(deps(), tenant_scope(), str(principal().key_id))
