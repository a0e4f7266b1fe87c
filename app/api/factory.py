"""The Quart app factory. Dependencies come in from the composition root."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import structlog
from quart import Quart, Response, g, request, websocket
from quart.typing import ResponseTypes
from quart_schema import QuartSchema
from werkzeug.datastructures import Headers

from app.api import (
    batches,
    decisions,
    docs,
    health,
    queue_stats,
    sagas,
    schedules,
    signals,
    tasks,
    triggers,
    usage,
    workers,
)
from app.api.auth import limit_anonymous, release_in_flight
from app.api.dependencies import ApiDependencies
from app.api.json_provider import install_strict_json
from app.api.openapi import ProblemAwareOpenAPI
from app.api.problems import register_problem_handlers
from app.api.streams import EventHub, install_hub
from app.api.tracing import TRACE_HEADER, current_trace_id, set_trace_id, trace_id_from_headers
from app.application.ports import Hook

log = structlog.get_logger("app.api")
# The stdlib logger behind `log`: asking it whether INFO is on is far cheaper than
# building the line for structlog's level filter to drop.
access_log = logging.getLogger("app.api")


def create_app(
    dependencies: ApiDependencies,
    *,
    event_hub: EventHub | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    max_payload_bytes: int = 1_048_576,
) -> Quart:
    """Build the API. `on_startup`/`on_shutdown` open and close pools while serving."""
    app = Quart("assistente")
    app.extensions["assistente"] = dependencies
    app.config["MAX_CONTENT_LENGTH"] = max_payload_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # served by app.api.docs from local assets
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={
            "title": "Assistente Tasks API",
            "version": "1",
            "description": "Queue AI tasks, follow them, cancel them. Errors are RFC 9457 "
            "problem+json with a traceId.",
        },
        security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer"}},
        pydantic_dump_options={"by_alias": True},
        openapi_provider_class=ProblemAwareOpenAPI,
    )
    install_strict_json(app)
    register_problem_handlers(app)
    for blueprint in (
        health.blueprint,
        tasks.blueprint,
        batches.blueprint,
        sagas.blueprint,
        schedules.blueprint,
        decisions.blueprint,
        triggers.blueprint,
        signals.blueprint,
        queue_stats.blueprint,
        usage.blueprint,
        workers.blueprint,
        docs.blueprint,
    ):
        app.register_blueprint(blueprint)

    @app.before_serving
    async def _startup() -> None:
        for hook in on_startup:
            await hook()
        if event_hub is not None:
            await event_hub.start()
        install_hub(event_hub)

    @app.after_serving
    async def _shutdown() -> None:
        if event_hub is not None:
            await event_hub.stop()
        for hook in on_shutdown:
            await hook()

    @app.before_request
    async def _bind_trace() -> None:
        _bind_trace_id(request.headers)
        g.request_started = time.perf_counter()

    app.before_request(limit_anonymous)

    @app.before_websocket
    async def _bind_websocket_trace() -> None:
        _bind_trace_id(websocket.headers)

    @app.after_websocket
    async def _tag_websocket(response: ResponseTypes | None) -> ResponseTypes | None:
        trace_id = current_trace_id()
        if response is not None and trace_id:
            response.headers[TRACE_HEADER] = trace_id
        return response

    @app.teardown_request
    async def _release(_error: BaseException | None) -> None:
        # Runs however the request ended, before a streamed body is sent: an SSE
        # stream counts among its key's streams (app.api.streams), not its requests.
        release_in_flight()

    @app.after_request
    async def _log_and_tag(response: Response) -> Response:
        trace_id = current_trace_id()
        if trace_id:
            response.headers[TRACE_HEADER] = trace_id
        if access_log.isEnabledFor(logging.INFO):
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


def _bind_trace_id(headers: Headers) -> None:
    trace_id = trace_id_from_headers(headers.get("traceparent"), headers.get("X-Request-Id"))
    set_trace_id(trace_id)
    structlog.contextvars.bind_contextvars(trace_id=trace_id)
