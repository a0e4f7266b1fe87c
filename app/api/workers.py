"""GET /api/v1/workers: the worker registry, for admin keys (every tenant's work runs on
the same workers, so a tenant's key may not see them)."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint
from quart_schema import validate_response

from app.api.auth import principal, require_api_key
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.worker_schemas import WorkerList

blueprint = Blueprint("workers", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)


@blueprint.get("/workers")
@validate_response(WorkerList, 200)
async def list_workers() -> WorkerList:
    """Every registered worker: where it runs, its last heartbeat, the tasks it holds.

    Admin keys only; any other key gets 403.
    """
    if not principal().is_admin:
        raise ProblemError(403, "Only admin keys may list workers.", slug="forbidden")
    directory = deps().workers
    if directory is None:
        raise ProblemError(503, "The worker registry is not available in this process.")
    rows = await directory.list()
    return WorkerList.model_validate({"workers": [asdict(row) for row in rows]})
