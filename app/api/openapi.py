"""The OpenAPI document: quart-schema's, plus the problem responses every operation can give."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

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
TASK_ERRORS = {"404": "No such task for this tenant."}
STATE_ERRORS = {"409": "The task's state does not allow this."}


def header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


TENANT_PARAMETER = header("X-Tenant-Id", "Admin keys only: act for this tenant (its id).")
IDEMPOTENCY_PARAMETER = header(
    "Idempotency-Key", "Same key and body returns the same task; another body is a 422."
)
RESUME_PARAMETER = header("Last-Event-ID", "Streams: resume after this event id.")


class ProblemAwareOpenAPI(OpenAPIProvider):
    """Documents every error response as RFC 9457 problem+json."""

    def generate_rules(self) -> Iterable[Rule]:
        for rule in super().generate_rules():
            if not rule.rule.startswith(HIDDEN_PREFIXES):
                yield rule

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        for name, definition in problem.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["Problem"] = problem
        reference = {
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
        }
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                errors = dict(COMMON_ERRORS)
                if "{task_id}" in path:
                    errors.update(TASK_ERRORS)
                if path.endswith(("/cancel", "/requeue")):
                    errors.update(STATE_ERRORS)
                if not path.startswith("/api/"):
                    errors = {"500": COMMON_ERRORS["500"]}
                self._document_headers(path, operation)
                # quart-schema keys responses by int status; mixing in str keys would break
                # the sorted JSON rendering of the document.
                for status, description in errors.items():
                    if int(status) not in responses and status not in responses:
                        responses[int(status)] = {"description": description, **reference}
                if path.startswith("/api/"):
                    operation.setdefault("security", [{"bearerAuth": []}])
        return document

    @staticmethod
    def _document_headers(path: str, operation: dict[str, Any]) -> None:
        if not path.startswith("/api/"):
            return
        parameters = operation.setdefault("parameters", [])
        parameters.append(TENANT_PARAMETER)
        if path == "/api/v1/tasks" and "requestBody" in operation:
            parameters.append(IDEMPOTENCY_PARAMETER)
        if path.endswith("/events"):
            parameters.append(RESUME_PARAMETER)
            operation.setdefault("responses", {}).setdefault(
                200, {"description": "Events; a live stream with Accept: text/event-stream."}
            )
            operation["responses"][200].setdefault("content", {})["text/event-stream"] = {
                "schema": {"type": "string"}
            }
