"""RFC 9457 problem details (`application/problem+json`) for every error the API answers."""

from __future__ import annotations

import traceback
from http import HTTPStatus
from typing import Any

import psycopg
import structlog
from psycopg_pool import PoolTimeout
from quart import Quart, Response, has_websocket_context, json, request, websocket
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from app.api.tracing import current_trace_id, new_trace_id
from app.domain.errors import DomainError

# Domain errors by class name: (status, problem slug). Others are 409 conflicts.
DOMAIN_STATUS = {
    "TaskNotFound": (404, "task-not-found"),
    "TaskAlreadyFinished": (409, "task-already-finished"),
    "TaskNotRequeueable": (409, "task-not-requeueable"),
    "IdempotencyConflict": (422, "idempotency-key-reused"),
    "DuplicateIdempotencyKey": (422, "idempotency-key-repeated"),
    "InvalidTransition": (409, "invalid-transition"),
    "EmptyBatch": (422, "empty-batch"),
    "InvalidDependencies": (422, "invalid-dependencies"),
    "InvalidSaga": (422, "invalid-saga"),
    "SagaNotRunning": (409, "saga-not-running"),
    "ScheduleNotFound": (404, "schedule-not-found"),
    "ScheduleNameTaken": (409, "schedule-name-taken"),
    "CodeScheduleReadOnly": (409, "code-schedule"),
    "ScheduleRetired": (409, "schedule-retired"),
    "NotWaitingForDecision": (409, "not-waiting-for-decision"),
    "AlreadyDecided": (409, "already-decided"),
    "TriggerNotFound": (404, "trigger-not-found"),
    "TriggerNameTaken": (409, "trigger-name-taken"),
    "TooManyTriggers": (409, "too-many-triggers"),
    "InvalidTrigger": (422, "invalid-trigger"),
    "SignalNotFound": (404, "signal-not-found"),
    # A signal id is an idempotency key: reused for another signal, the same 422.
    "SignalIdReused": (422, "idempotency-key-reused"),
    "InvalidSignal": (422, "invalid-signal"),
}


def field_errors(error: object) -> list[dict[str, Any]]:
    """Pydantic errors as [{field, message}], field paths in the API's camelCase."""
    found = []
    for item in getattr(error, "errors", list)():
        path = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        found.append({"field": path or "body", "message": item.get("msg", "invalid")})
    return found


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://assistente.dev/problems/"

log = structlog.get_logger("app.api")


def problem_response(
    status: int,
    *,
    detail: str | None = None,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build a problem response; `traceId` and `instance` come from the current request."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-").replace("'", "")),
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
        "instance": _path(),
        "traceId": current_trace_id() or new_trace_id(),
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _path() -> str | None:
    if request:
        return request.path
    return websocket.path if has_websocket_context() else None


class ProblemError(Exception):
    """Raised by handlers to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.errors = errors
        self.headers = headers


def register_problem_handlers(app: Quart) -> None:
    """Every HTTP error Quart raises, and any unexpected exception, becomes a problem."""

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        headers = {}
        if status == 405 and error.get_headers():
            headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        return problem_response(status, detail=error.description, headers=headers)

    @app.errorhandler(ProblemError)
    async def _problem(error: ProblemError) -> Response:
        return problem_response(
            error.status,
            detail=error.detail,
            slug=error.slug,
            title=error.title,
            errors=error.errors,
            headers=error.headers,
        )

    @app.errorhandler(RequestSchemaValidationError)
    async def _invalid(error: RequestSchemaValidationError) -> Response:
        return problem_response(
            422,
            detail="The request does not match the schema; see errors.",
            slug="validation-failed",
            title="Validation failed",
            errors=field_errors(error.validation_error),
        )

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(PoolTimeout)
    async def _database_down(error: Exception) -> Response:
        log.error("database_unavailable", error_type=type(error).__name__)
        return problem_response(
            503,
            detail="The database is unavailable; retry shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "2"},
        )

    @app.errorhandler(psycopg.DataError)
    async def _unstorable(error: psycopg.DataError) -> Response:
        # Input that slipped past validation but that Postgres refuses: the client's to fix.
        log.warning("unstorable_input", error_type=type(error).__name__)
        return problem_response(
            422, detail="A value in the request cannot be stored.", slug="validation-failed"
        )

    @app.errorhandler(DomainError)
    async def _domain(error: DomainError) -> Response:
        status, slug = DOMAIN_STATUS.get(type(error).__name__, (409, "conflict"))
        return problem_response(status, detail=str(error), slug=slug)

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        # The stack goes to the log under the trace id, without the exception's message
        # (it may quote request data); the client gets no internals at all.
        log.error(
            "unhandled_error",
            path=request.path,
            error_type=type(error).__name__,
            stack="".join(traceback.format_tb(error.__traceback__)),
        )
        return problem_response(
            500, detail="An unexpected error occurred. Quote the traceId when reporting it."
        )
