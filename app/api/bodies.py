"""JSON bodies of the busy endpoints, without quart-schema's per-request overhead.

quart-schema's `validate_request` builds a pydantic TypeAdapter on every request, and
`validate_response` renders a model through `model_dump` and then a JSON `default`
callback for every UUID and datetime in it: on `POST /api/v1/tasks` and its batch
twin that was a large share of the API's CPU. These helpers do the same work through
the models' own validators and serialisers. The routes still name their models with
quart-schema's `document_request`/`document_response`, so the OpenAPI document is
unchanged, and errors take the same paths (a `RequestSchemaValidationError` is a 422
problem listing each field).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar, cast

from pydantic import BaseModel
from quart import Response, current_app, request
from quart_schema import RequestSchemaValidationError
from werkzeug.datastructures import Headers

from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.application.capabilities.door import TaskPayloadErrors, check_builtin_payloads
from app.application.handlers import HandlerDirectory

if TYPE_CHECKING:
    from app.api.schemas import CreateTask

M = TypeVar("M", bound=BaseModel)


async def request_model(model: type[M]) -> M:
    """The JSON body as a `model`: a 400 if it is not JSON, a 422 if it does not match."""
    data = await request.get_json()
    try:
        return model.model_validate(data)
    except (TypeError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        raise RequestSchemaValidationError(error) from error


def model_response(model: BaseModel, status: int, headers: Headers | None = None) -> Response:
    """`model` as JSON, byte for byte what quart-schema and the app's JSON provider wrote
    (camelCase, sorted keys, ASCII). pydantic turns ids, times and enums into JSON
    values in one call, so the provider's per-value callback never runs."""
    rendered = current_app.json.response(model.model_dump(mode="json", by_alias=True))
    response = cast(Response, rendered)  # the app's response_class; typed as werkzeug's
    response.status_code = status
    if headers is not None:
        response.headers.update(headers)
    return response


def handler_directory() -> HandlerDirectory | None:
    """Where workers record their task types; None (no check at the door) until the
    composition root provides it."""
    return deps().handler_directory


async def refuse_unfit_payloads(tasks: Sequence[CreateTask], *, batch: bool) -> None:
    """A 422 naming each field if a task would run a built-in capability handler (its
    type has no handler of its own) with a payload that handler refuses."""
    directory = handler_directory()
    if directory is None:
        return
    items = [(task.type, task.capability_type, task.payload) for task in tasks]
    found = await check_builtin_payloads(items, directory=directory)
    if not found:
        return
    prefix = "tasks.{}." if batch else ""
    errors = [
        {"field": prefix.format(unfit.index) + error.field, "message": error.message}
        for unfit in found
        for error in unfit.errors
    ]
    raise ProblemError(
        422,
        _unfit_detail(tasks, found, batch=batch),
        slug="payload-does-not-fit",
        title="Payload does not fit the capability",
        errors=errors,
    )


def _unfit_detail(
    tasks: Sequence[CreateTask], found: list[TaskPayloadErrors], *, batch: bool
) -> str:
    if batch:
        where = ", ".join(f"tasks[{unfit.index}]" for unfit in found)
        return (
            f"{where}: no worker has a handler of its own for the task type, so the "
            "built-in handler of its capabilityType would run it, and it refuses the "
            "payload; see errors."
        )
    unfit = found[0]
    reasons = "; ".join(f"{e.field}: {e.message}" for e in unfit.errors)
    return (
        f"No worker has a handler of its own for type {tasks[0].type!r}, so the built-in "
        f"{unfit.capability} handler would run it, and it refuses the payload: {reasons}."
    )


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def json_bodies_only() -> None:
    """before_request: a body must be JSON; anything else is a 415, before any parsing."""
    if request.method not in BODY_METHODS:
        return
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if has_body and not request.is_json:
        raise ProblemError(
            415,
            f"Send the body as application/json (got {request.mimetype or 'no content type'}).",
            slug="unsupported-media-type",
        )
