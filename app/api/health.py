"""GET /health: 200 with the checks while every dependency answers, 503 otherwise.

Anyone may ask, without a key, so it never costs more than one run of the checks per
HEALTH_CACHE_SECONDS: callers share the latest report and the run under way.
"""

from __future__ import annotations

import math

from quart import Blueprint, Response, json

from app.api.dependencies import deps

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
async def health() -> Response:
    """200 with each dependency's check while all answer; 503 with the failing one."""
    shared = deps().health
    report = await shared.report()
    body = {"status": "ok" if report.ok else "unavailable", "checks": report.checks}
    response = Response(
        json.dumps(body), status=200 if report.ok else 503, mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Age"] = str(math.floor(shared.age()))
    return response
