"""What each built-in capability accepts in `payload`, checked before anything is called.

Keys are camelCase, as in the REST API. Validation is strict (no "5" for 5, no 1 for
true) and unknown keys are refused, so a misspelt option fails loudly instead of
being ignored. A payload that does not fit becomes `NonRetryableError(code="BadPayload")`
whose message names the field path, e.g. "payload.labels: must list at least 2 labels",
and never echoes the value (it may be customer text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from app.application.capabilities.labels import label_key
from app.application.capabilities.limits import CapabilityLimits
from app.domain.errors import NonRetryableError

MAX_MODEL_NAME = 200
MAX_ERRORS_REPORTED = 5
MediaType = Literal["image/png", "image/jpeg", "image/webp", "image/gif"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
# Headers the HTTP client sets itself; a task overriding them could smuggle requests.
# Set by the client; accept-encoding stays "identity" so a small compressed body cannot
# expand past the response limit before it is counted.
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
)
_HEADER_NAME_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

Model = TypeVar("Model", bound=BaseModel)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _model_name(value: str | None) -> str | None:
    if value is not None and (not value.strip() or len(value) > MAX_MODEL_NAME):
        raise PydanticCustomError("model_name", f"must be 1 to {MAX_MODEL_NAME} characters")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]
ModelName = Annotated[str | None, AfterValidator(_model_name)]


def _limits(info: ValidationInfo) -> CapabilityLimits:
    context = info.context if isinstance(info.context, Mapping) else {}
    limits = context.get("limits")
    return limits if isinstance(limits, CapabilityLimits) else CapabilityLimits()


class Payload(BaseModel):
    """Base of every payload model: camelCase keys, strict types, no unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, frozen=True, populate_by_name=False
    )


class GenerationPayload(Payload):
    """LLM_Generation and LLM_Reasoning."""

    prompt: Text
    # Text, or a list/object that is sent JSON-encoded.
    context: Any = None
    system: Text | None = None
    model: ModelName = None
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    temperature: float | None = Field(default=None, ge=0, le=2)

    @field_validator("context")
    @classmethod
    def _context(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | list | dict):
            raise PydanticCustomError("context", "must be a string, a list or an object")
        return value


class ClassificationPayload(Payload):
    """LLM_Classification: one label out of `labels` for `text`."""

    text: Text
    labels: list[Text]
    instructions: Text | None = None
    model: ModelName = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str], info: ValidationInfo) -> list[str]:
        limits = _limits(info)
        if len(value) < 2:
            raise PydanticCustomError("labels", "must list at least 2 labels")
        if len(value) > limits.classification_max_labels:
            raise PydanticCustomError(
                "labels", f"must list at most {limits.classification_max_labels} labels"
            )
        seen: set[str] = set()
        for label in value:
            if len(label) > limits.classification_max_label_length:
                raise PydanticCustomError(
                    "labels",
                    f"a label must be at most {limits.classification_max_label_length} characters",
                )
            # Answers are matched as label_key sees them: labels must differ beyond case,
            # wrapping quotes and a final period, and must not be only those.
            key = label_key(label)
            if not key:
                raise PydanticCustomError("labels", "a label must have letters or digits")
            if key in seen:
                raise PydanticCustomError(
                    "labels", "must not repeat a label (ignoring case, quotes, a final period)"
                )
            seen.add(key)
        return value


class ImagePayload(Payload):
    """An image given by URL (fetched by the provider) or inline base64."""

    url: str | None = None
    base64: str | None = None
    media_type: MediaType | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise PydanticCustomError("url", "must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ImagePayload:
        if (self.url is None) == (self.base64 is None):
            raise PydanticCustomError("image", "give exactly one of url or base64")
        return self


class VisionPayload(Payload):
    """Vision_OCR and Vision_ObjectDetection."""

    image: ImagePayload
    prompt: Text | None = None
    model: ModelName = None


class EmbeddingPayload(Payload):
    """Embedding_Search: rank `candidates` by similarity to `query`."""

    query: Text
    candidates: list[Text]
    top_k: int | None = Field(default=None, ge=1)
    model: ModelName = None

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, value: list[str], info: ValidationInfo) -> list[str]:
        most = _limits(info).embedding_max_candidates
        if not 1 <= len(value) <= most:
            raise PydanticCustomError("candidates", f"must list 1 to {most} candidates")
        return value


class RulesPayload(Payload):
    """RuleEngine; the rules themselves are checked by `app.domain.rules`."""

    rules: Any
    data: dict[str, Any]
    mode: Literal["first", "all"] = "all"


class HttpRequestPayload(Payload):
    """The HTTP call of an ExternalIntegration task."""

    method: HttpMethod
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    # "json" would shadow BaseModel.json, hence the alias.
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not name or not set(name) <= _HEADER_NAME_CHARS:
                raise PydanticCustomError("headers", "a header name must be an HTTP token")
            if name.lower() in FORBIDDEN_HEADERS:
                raise PydanticCustomError(
                    "headers", f"{name} is set by the client and may not be given"
                )
            if any(char in header for char in "\r\n\x00"):
                raise PydanticCustomError(
                    "headers", f"the value of {name} must not contain line breaks"
                )
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestPayload:
        has_body = self.json_body is not None or self.body is not None
        if self.json_body is not None and self.body is not None:
            raise PydanticCustomError("body", "give json or body, not both")
        if has_body and self.method == "GET":
            raise PydanticCustomError("body", "a GET request has no body")
        return self


class IntegrationPayload(Payload):
    """ExternalIntegration."""

    request: HttpRequestPayload


def parse_payload(
    model: type[Model], payload: object, *, limits: CapabilityLimits | None = None
) -> Model:
    """`payload` as `model`, or NonRetryableError(code="BadPayload") naming the fields."""
    data = dict(payload) if isinstance(payload, Mapping) else payload
    try:
        return model.model_validate(data, context={"limits": limits or CapabilityLimits()})
    except ValidationError as error:
        # `from None`: pydantic's own error carries the input values, which stay out of logs.
        raise bad_payload(error) from None


def bad_payload(error: ValidationError) -> NonRetryableError:
    """One error naming up to five field paths and what is wrong with each."""
    details = error.errors(include_url=False, include_input=False)
    parts = [f"{field_path(d['loc'])}: {describe(d)}" for d in details[:MAX_ERRORS_REPORTED]]
    if len(details) > MAX_ERRORS_REPORTED:
        parts.append(f"and {len(details) - MAX_ERRORS_REPORTED} more")
    return NonRetryableError("; ".join(parts), code="BadPayload")


def field_path(loc: tuple[int | str, ...], root: str = "payload") -> str:
    """("rules", 2, "when") -> "payload.rules[2].when"."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def describe(detail: ErrorDetails) -> str:
    """A short reason in the house's words for one pydantic error."""
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]}"
    bounds = {
        "string_too_short": f"must have at least {ctx.get('min_length')} characters",
        "string_too_long": f"must have at most {ctx.get('max_length')} characters",
        "too_short": f"must have at least {ctx.get('min_length')} items",
        "too_long": f"must have at most {ctx.get('max_length')} items",
        "greater_than_equal": f"must be at least {_bound(ctx.get('ge'))}",
        "greater_than": f"must be greater than {_bound(ctx.get('gt'))}",
        "less_than_equal": f"must be at most {_bound(ctx.get('le'))}",
        "less_than": f"must be less than {_bound(ctx.get('lt'))}",
        "literal_error": f"must be {ctx.get('expected')}",
    }
    if kind in bounds:
        return bounds[kind]
    # Our own errors (PydanticCustomError) are already worded; pydantic's read "Input should…".
    message = detail["msg"]
    return message.replace("Input should be", "must be", 1)


def _bound(value: object) -> str:
    # A float bound of a whole number reads as one: "at most 2", not "at most 2.0".
    return f"{value:g}" if isinstance(value, float) else str(value)
