"""JSON parsing that turns every malformed body into a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

from quart import Quart


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
