"""JSON parsing that turns every malformed body into a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, Request

from app.api.problems import ProblemError

INVALID_JSON = "invalid-json"


def invalid_json(detail: str) -> ProblemError:
    """A 400 problem for a body that cannot be read as JSON."""
    return ProblemError(400, detail, slug=INVALID_JSON, title="Invalid JSON")


def describe_json_error(error: Exception) -> str:
    """What is wrong with a body that failed to parse, and where, for a client to fix."""
    if isinstance(error, json.JSONDecodeError):
        if not error.doc.strip():
            return "The body is empty; send a JSON object."
        reason = error.msg[:1].lower() + error.msg[1:]
        return (
            f"The body is not valid JSON: {reason} at line {error.lineno}, "
            f"column {error.colno} (character {error.pos})."
        )
    return f"The body is not valid JSON: {error}."


class Utf8Request(Request):
    """A request whose body, read as text, is UTF-8 JSON or a 400 problem saying why.

    Quart decodes the body before the JSON parser sees it and lets a
    UnicodeDecodeError escape, which would be a 500; and its own answer to bad JSON
    is a bare 400 that does not say what is wrong.
    """

    async def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> str | bytes:
        raw = await super().get_data(cache=cache, as_text=False, parse_form_data=parse_form_data)
        if not as_text:
            return raw
        try:
            return raw.decode()
        except UnicodeDecodeError as error:
            raise invalid_json(
                f"The body is not valid UTF-8 (byte {error.start} cannot be decoded)."
            ) from None

    def on_json_loading_failed(self, error: Exception) -> Any:
        raise invalid_json(describe_json_error(error)) from error


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def install_strict_json(app: Quart) -> None:
    """Make `app.json` refuse NaN/Infinity (jsonb cannot store them) and absurd nesting.

    Wraps the provider already installed (quart-schema's, which renders pydantic
    models), so only parsing changes.
    """
    base = type(app.json)

    class StrictJSONProvider(base):  # type: ignore[valid-type,misc]
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            try:
                return json.loads(s, parse_constant=_no_constants, **kwargs)
            except RecursionError as error:
                raise ValueError("the JSON is nested too deeply") from error

    app.json = StrictJSONProvider(app)
    app.request_class = Utf8Request
