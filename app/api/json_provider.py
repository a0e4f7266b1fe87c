"""JSON parsing that turns every malformed body into a 400, never a 500.

An object that repeats a key is malformed here. Python's parser keeps the last value of
a repeated key, other parsers (and proxies that look at a body) may keep the first:
`{"type": "demo.noop", "type": "demo.fail"}` would mean one thing to them and another
to us. `unique_keys` is the parser's `object_pairs_hook`: one dict per object, as the
parser builds anyway, plus a length check. Only when it finds a repeat is the body
parsed again to say where.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, Request

from app.api.problems import ProblemError

INVALID_JSON = "invalid-json"
MAX_KEY_SHOWN = 100


class DuplicateKeyError(ValueError):
    """An object in the body names `key` twice; `path` is where that object is."""

    def __init__(self, key: str, path: tuple[str | int, ...] | None = None) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key
        self.path = path

    @classmethod
    def locate(cls, document: str | bytes, seen: DuplicateKeyError) -> DuplicateKeyError:
        """The first repeated key of `document`, in reading order, with its object's path
        (`seen`, without a path, if it cannot be found again)."""
        try:
            found = _first_repeat(json.loads(document, object_pairs_hook=_Pairs), ())
        except (ValueError, RecursionError):
            found = None
        return found or seen

    def shown_key(self) -> str:
        # json.dumps: quoted and escaped, so a key with control characters reads safely.
        key = self.key if len(self.key) <= MAX_KEY_SHOWN else self.key[:MAX_KEY_SHOWN] + "…"
        return json.dumps(key)

    def where(self) -> str:
        return ".".join(str(part) for part in self.path) if self.path else ""

    def detail(self) -> str:
        place = f"in the object at {self.where()}" if self.path else "at the top level"
        return (
            f"The body repeats the key {self.shown_key()} {place}; "
            "each key may appear once in a JSON object."
        )

    def field_errors(self) -> list[dict[str, Any]]:
        field = ".".join(filter(None, (self.where(), self.key)))
        return [{"field": field, "message": "appears more than once in its object"}]


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook`: the object as a dict, or DuplicateKeyError if a key repeats."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return found


class _Pairs(list[tuple[str, Any]]):
    """An object kept as its pairs, in order, so repeats survive to be found."""


def _first_repeat(value: Any, path: tuple[str | int, ...]) -> DuplicateKeyError | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            if key in seen:
                return DuplicateKeyError(key, path)
            seen.add(key)
            found = _first_repeat(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_repeat(item, (*path, index))
            if found is not None:
                return found
    return None


def invalid_json(detail: str, errors: list[dict[str, Any]] | None = None) -> ProblemError:
    """A 400 problem for a body that cannot be read as JSON."""
    return ProblemError(400, detail, slug=INVALID_JSON, title="Invalid JSON", errors=errors)


def describe_json_error(error: Exception) -> str:
    """What is wrong with a body that failed to parse, and where, for a client to fix."""
    if isinstance(error, DuplicateKeyError):
        return error.detail()
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
        errors = error.field_errors() if isinstance(error, DuplicateKeyError) else None
        raise invalid_json(describe_json_error(error), errors) from error


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def install_strict_json(app: Quart) -> None:
    """Make `app.json` refuse NaN/Infinity (jsonb cannot store them), absurd nesting and
    an object that repeats a key (JSON parsers disagree on which one wins).

    Wraps the provider already installed (quart-schema's, which renders pydantic
    models), so only parsing changes.
    """
    base = type(app.json)

    class StrictJSONProvider(base):  # type: ignore[valid-type,misc]
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            try:
                return json.loads(
                    s, parse_constant=_no_constants, object_pairs_hook=unique_keys, **kwargs
                )
            except DuplicateKeyError as repeat:
                raise DuplicateKeyError.locate(s, repeat) from None
            except RecursionError as error:
                raise ValueError("the JSON is nested too deeply") from error

    app.json = StrictJSONProvider(app)
    app.request_class = Utf8Request
