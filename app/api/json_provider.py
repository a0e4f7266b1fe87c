"""JSON parsing that turns every malformed body into a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, Request
from werkzeug.exceptions import BadRequest


class Utf8Request(Request):
    """A request whose body, read as text, is UTF-8 or a 400.

    Quart decodes the body before the JSON parser sees it and lets a
    UnicodeDecodeError escape, which would be a 500.
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
            raise BadRequest(
                f"The body is not valid UTF-8 (byte {error.start} cannot be decoded)."
            ) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
