"""GET /health: 200 with the checks while every dependency answers, 503 otherwise."""

from __future__ import annotations

from quart import Blueprint, Response, json

from app.api.dependencies import deps
from app.application.health import check_health

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
async def health() -> Response:
    """200 with each dependency's check while all answer; 503 with the failing one."""
    report = await check_health(deps().health_checks)
    body = {"status": "ok" if report.ok else "unavailable", "checks": report.checks}
    response = Response(
        json.dumps(body), status=200 if report.ok else 503, mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
