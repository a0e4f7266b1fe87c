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

from typing import TypeVar, cast

from pydantic import BaseModel
from quart import Response, current_app, request
from quart_schema import RequestSchemaValidationError
from werkzeug.datastructures import Headers

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
