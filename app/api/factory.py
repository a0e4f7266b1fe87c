"""The Quart app factory. Dependencies come in from the composition root."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from quart import Quart, Response, g, request
from quart_schema import QuartSchema

from app.api import health
from app.api.problems import register_problem_handlers
from app.api.tracing import TRACE_HEADER, current_trace_id, set_trace_id, trace_id_from_headers
from app.application.health import HealthCheck

log = structlog.get_logger("app.api")

Hook = Callable[[], Awaitable[None]]


def create_app(
    *,
    health_checks: Sequence[HealthCheck],
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    max_payload_bytes: int = 1_048_576,
) -> Quart:
    """Build the API. `on_startup`/`on_shutdown` open and close pools while serving."""
    app = Quart("assistente")
    app.config["HEALTH_CHECKS"] = list(health_checks)
    app.config["MAX_CONTENT_LENGTH"] = max_payload_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        # The docs UI arrives with the REST API issue, with its assets served locally.
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "Assistente Tasks API", "version": "1"},
    )
    register_problem_handlers(app)
    app.register_blueprint(health.blueprint)

    @app.before_serving
    async def _startup() -> None:
        for hook in on_startup:
            await hook()

    @app.after_serving
    async def _shutdown() -> None:
        for hook in on_shutdown:
            await hook()

    @app.before_request
    async def _bind_trace() -> None:
        trace_id = trace_id_from_headers(
            request.headers.get("traceparent"), request.headers.get("X-Request-Id")
        )
        set_trace_id(trace_id)
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        g.request_started = time.perf_counter()

    @app.after_request
    async def _log_and_tag(response: Response) -> Response:
        trace_id = current_trace_id()
        if trace_id:
            response.headers[TRACE_HEADER] = trace_id
        started = g.get("request_started")
        log.info(
            "http_request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        )
        structlog.contextvars.unbind_contextvars("trace_id")
        return response

    return app
