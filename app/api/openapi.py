"""The OpenAPI document: quart-schema's, made to say exactly what the service does.

quart-schema derives paths and bodies from the routes and models; this provider adds
what they cannot say (problem responses, headers with their limits, uuid path ids,
the health and artifact responses, event streams, links between operations, each
capability's payload) and renders the document once: it never changes while the
process runs, and building it costs tens of milliseconds of CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quart import Quart, Response
from quart_schema import QuartSchema
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import BaseConverter, Rule, UUIDConverter

from app.api.openapi_headers import document_headers
from app.api.openapi_links import document_links
from app.api.openapi_payloads import document_payloads
from app.api.openapi_schedules import document_schedules
from app.api.openapi_triggers import TRIGGER_ERRORS, document_triggers
from app.api.openapi_waiting import document_waiting
from app.api.schemas import Problem

HIDDEN_PREFIXES = ("/docs", "/openapi.json", "/static")
COMMON_ERRORS = {
    "400": "Malformed request: a body that is not valid JSON (`detail` says where), a bad header.",
    "401": "Missing, unknown or revoked API key.",
    "403": "The key may not do this.",
    "405": "Method not allowed on this path.",
    "413": "Body larger than the limit.",
    "415": "Body is not application/json.",
    "422": "Body or query does not match the schema (see `errors`).",
    "429": "Too many requests.",
    "500": "Unexpected error; quote the traceId.",
    "503": "A dependency (Postgres) is unavailable.",
}
TASK_ERRORS = {"404": "No such task for this tenant (or no such artifact)."}
BATCH_ERRORS = {"404": "No such batch for this tenant."}
SAGA_ERRORS = {"404": "No such saga for this tenant."}
SIGNAL_ERRORS = {"404": "No such signal for this tenant (or it was pruned after it expired)."}
STATE_ERRORS = {"409": "The task's state does not allow this."}
DECISION_ERRORS = {
    "409": "The task waits for no decision (queued, running, finished, cancelled, waiting "
    "for a signal), or its wait was decided already.",
    "422": "Body does not match the schema, or `input` does not match the JSON Schema the "
    "question declared (`errors` lists each path, e.g. `input.amount`).",
}
PROBLEM = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}


HEALTH_BODY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {
            "type": "object",
            "description": "Each dependency's check by name: `status` (`up` or `down`), "
            "`latencyMs`, a `detail` when down, and figures of its own.",
            "additionalProperties": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["up", "down"]},
                    "latencyMs": {"type": "number"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}
HEALTH_HEADERS = {
    "Age": {
        "description": "Seconds since the checks reported (callers share one run).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
}
UNTRUSTED_CONTENT_HEADERS = {
    "X-Content-Type-Options": {"schema": {"type": "string", "enum": ["nosniff"]}},
    "Content-Security-Policy": {
        "description": "Content written by a handler never runs in a browser here.",
        "schema": {"type": "string"},
    },
}
YEAR_2000_OR_LATER = "^(2[0-9]{3}|[3-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"
USAGE_SPAN = (
    " `from` and `to` are 2000-01-01 or later, `from` is not after `to` (which defaults "
    "to today), and `from..to` spans at most 366 days; otherwise a 422."
)


class ProblemAwareOpenAPI(OpenAPIProvider):
    """Documents every error response as RFC 9457 problem+json; serves the document
    rendered once."""

    def __init__(self, app: Quart, extension: QuartSchema) -> None:
        super().__init__(app, extension)
        self._rendered: bytes | None = None
        # quart-schema routes its openapi_path to `extension.openapi` right after it
        # builds this provider: serve the pre-rendered bytes instead of a fresh build.
        extension.openapi = self.serve  # type: ignore[method-assign]

    async def serve(self) -> Response:
        """GET /openapi.json: the same bytes every time, built on the first request."""
        if self._rendered is None:
            self._rendered = self._app.json.dumps(self.schema()).encode()
        response = Response(self._rendered, content_type="application/json")
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    def generate_rules(self) -> Iterable[Rule]:
        for rule in super().generate_rules():
            if not rule.rule.startswith(HIDDEN_PREFIXES):
                yield rule

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, UUIDConverter):
            # Anything else matches no route: a 404 before any handler runs.
            parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameter

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        for name, definition in problem.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["Problem"] = problem
        paths = document.get("paths", {})
        for path, operations in paths.items():
            for operation in operations.values():
                self._document_operation(path, operation)
        _document_health(paths.get("/health", {}).get("get"))
        _document_artifact_content(
            paths.get("/api/v1/tasks/{task_id}/artifacts/{artifact_id}", {}).get("get")
        )
        _document_usage_span(paths.get("/api/v1/usage", {}).get("get"))
        document_waiting(paths, self._app.extensions["assistente"].waiting)
        document_payloads(document)
        document_triggers(paths)
        document_links(paths)
        document_schedules(paths)
        return document

    def _document_operation(self, path: str, operation: dict[str, Any]) -> None:
        responses = operation.setdefault("responses", {})
        errors = dict(COMMON_ERRORS)
        if "{task_id}" in path:
            errors.update(TASK_ERRORS)
        if "{batch_id}" in path:
            errors.update(BATCH_ERRORS)
        if "{saga_id}" in path:
            errors.update(SAGA_ERRORS)
        if "{trigger_id}" in path:
            errors.update(TRIGGER_ERRORS)
        if "{signal_id}" in path:
            errors.update(SIGNAL_ERRORS)
        if path.endswith(("/cancel", "/requeue")):
            errors.update(STATE_ERRORS)
        if path.endswith("/decision"):
            errors.update(DECISION_ERRORS)
        if not path.startswith("/api/"):
            errors = {
                "429": "Too many requests from this address (API_ANONYMOUS_PER_SECOND).",
                "500": COMMON_ERRORS["500"],
            }
        document_headers(path, operation)
        _plain_query_parameters(operation)
        if "requestBody" in operation:
            # No body is a 422 like any other body that is not the model.
            operation["requestBody"]["required"] = True
            limit = self._app.config.get("MAX_CONTENT_LENGTH")
            if limit:
                operation["requestBody"]["description"] = (
                    f"JSON, at most {limit} bytes (MAX_PAYLOAD_BYTES; a larger body is a 413)."
                )
        # quart-schema keys responses by int status; mixing in str keys would break
        # the sorted JSON rendering of the document.
        for status, description in errors.items():
            if int(status) not in responses and status not in responses:
                responses[int(status)] = {"description": description, **PROBLEM}
        if path.startswith("/api/"):
            operation.setdefault("security", [{"bearerAuth": []}])
        else:
            operation["security"] = []  # anyone may ask, without a key


def _plain_query_parameters(operation: dict[str, Any]) -> None:
    """A query parameter is absent or a value, never null: drop pydantic's `| None`."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "query" or "anyOf" not in schema:
            continue
        options = [s for s in schema["anyOf"] if s != {"type": "null"}]
        if len(options) == 1:
            rest = {k: v for k, v in schema.items() if k not in {"anyOf", "default"}}
            if schema.get("default") is not None:
                rest["default"] = schema["default"]
            parameter["schema"] = {**options[0], **rest}


def _document_health(operation: dict[str, Any] | None) -> None:
    if operation is None:
        return
    body = {"application/json": {"schema": HEALTH_BODY}}
    operation["responses"][200] = {
        "description": "Every dependency answers.",
        "headers": HEALTH_HEADERS,
        "content": body,
    }
    operation["responses"][503] = {
        "description": "A dependency does not answer: `checks` says which.",
        "headers": HEALTH_HEADERS,
        "content": body,
    }


def _document_artifact_content(operation: dict[str, Any] | None) -> None:
    if operation is None:
        return
    operation["responses"][200] = {
        "description": "The artifact's content, with the content type it was stored with.",
        "headers": UNTRUSTED_CONTENT_HEADERS,
        # Any bytes at all: text, JSON, a PDF (schema-less: nothing to validate).
        "content": {"*/*": {"schema": {}}},
    }
    operation["responses"][302] = {
        "description": "The artifact is an http(s) link: `Location` names it.",
        "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
    }


def _document_usage_span(operation: dict[str, Any] | None) -> None:
    if operation is None:
        return
    operation["description"] = operation.get("description", "") + "\n\n" + USAGE_SPAN.strip()
    for parameter in operation.get("parameters", []):
        if parameter["name"] in {"from", "to"}:
            parameter["description"] = parameter.get("description", "") + USAGE_SPAN
            parameter["schema"]["pattern"] = YEAR_2000_OR_LATER
