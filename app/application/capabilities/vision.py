"""Vision_OCR and Vision_ObjectDetection: one chat completion with the task's image."""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from app.application.ai import AiClient, ChatMessage, ChatRequest, ChatResult, ImageInput
from app.application.artifact_store import ArtifactStore
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.outputs import save_text
from app.application.capabilities.payloads import (
    ImagePayload,
    VisionPayload,
    describe,
    field_path,
    parse_payload,
)
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.domain.enums import CapabilityType
from app.domain.errors import NonRetryableError, RetryableError
from app.domain.pricing import PriceTable

OCR_INSTRUCTION = (
    "Extract all text from this image, in reading order, keeping its line breaks. "
    "Answer with the text only."
)
DETECTION_INSTRUCTION = "Detect the objects in this image."
DETECTION_FORMAT = (
    "Find the objects in the image. Answer with a JSON object of the form "
    '{"objects": [{"label": "<what it is>", "confidence": <0 to 1>, '
    '"box": [<x>, <y>, <width>, <height>]}]}, where the box is measured in fractions '
    "(0 to 1) of the image's width and height from its top-left corner. "
    'Answer {"objects": []} when there is none.'
)
# The first bytes of each accepted format, for images sent without a mediaType.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class DetectedObject(BaseModel):
    """One object as the model must report it (extra keys are ignored)."""

    label: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    box: tuple[float, float, float, float]


class Detection(BaseModel):
    objects: list[DetectedObject]


async def read_text(
    ctx: TaskContext,
    *,
    ai: AiClient,
    prices: PriceTable,
    artifacts: ArtifactStore,
    limits: CapabilityLimits,
) -> dict[str, Any]:
    """Vision_OCR: the image's text; result {"text" (or "textArtifact"), "model"}."""
    payload = parse_payload(VisionPayload, ctx.payload, limits=limits)
    result = await _ask(
        ctx, payload, CapabilityType.VISION_OCR, OCR_INSTRUCTION, ai=ai, limits=limits
    )
    charge(ctx, result, prices, ctx.log)
    saved = await save_text(ctx, result.text, name="text.txt", artifacts=artifacts, limits=limits)
    return {**saved.as_fields("text"), "model": result.model}


async def detect_objects(
    ctx: TaskContext, *, ai: AiClient, prices: PriceTable, limits: CapabilityLimits
) -> dict[str, Any]:
    """Vision_ObjectDetection: result {"objects": [{"label", "confidence", "box"}], "model"}.

    An answer that is not that JSON is a RetryableError (code BadModelOutput): the
    same request usually comes back well-formed the next time.
    """
    payload = parse_payload(VisionPayload, ctx.payload, limits=limits)
    result = await _ask(
        ctx,
        payload,
        CapabilityType.VISION_OBJECT_DETECTION,
        DETECTION_INSTRUCTION,
        ai=ai,
        limits=limits,
        system=DETECTION_FORMAT,
    )
    charge(ctx, result, prices, ctx.log)
    detection = parse_detection(result.text)
    return {"objects": [o.model_dump() for o in detection.objects], "model": result.model}


async def _ask(
    ctx: TaskContext,
    payload: VisionPayload,
    capability: CapabilityType,
    default_instruction: str,
    *,
    ai: AiClient,
    limits: CapabilityLimits,
    system: str | None = None,
) -> ChatResult:
    image = image_input(payload.image, limits)
    messages = [ChatMessage("system", system)] if system else []
    messages.append(ChatMessage("user", payload.prompt or default_instruction, images=(image,)))
    request = ChatRequest(
        capability=capability,
        messages=tuple(messages),
        model=payload.model,
        json_output=capability is CapabilityType.VISION_OBJECT_DETECTION,
    )
    ctx.update(state="calling model")
    return await ai.chat(request)


def image_input(image: ImagePayload, limits: CapabilityLimits) -> ImageInput:
    """The image for the provider; inline data must decode and fit the size limit."""
    if image.url is not None:
        if not limits.vision_image_urls:
            raise NonRetryableError(
                "payload.image.url: image URLs are turned off here (VISION_IMAGE_URLS);"
                " send the image as base64",
                code="BadPayload",
            )
        # The provider fetches it, within the provider's own size limit.
        return ImageInput(url=image.url, media_type=image.media_type or "image/png")
    encoded = image.base64 or ""
    where = "payload.image.base64"
    # Four characters carry three bytes: refuse an oversized image before decoding it.
    if (len(encoded) // 4) * 3 - 2 > limits.vision_max_image_bytes:
        raise _too_large(where, limits)
    if encoded.startswith("data:"):
        raise NonRetryableError(
            f"{where}: give the base64 data without a data: URL prefix", code="BadPayload"
        )
    try:
        data = b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NonRetryableError(f"{where}: is not valid base64", code="BadPayload") from None
    if not data:
        raise NonRetryableError(f"{where}: must not be empty", code="BadPayload")
    if len(data) > limits.vision_max_image_bytes:
        raise _too_large(where, limits)
    media_type = image.media_type or sniff_media_type(data)
    if media_type is None:
        raise NonRetryableError(
            "payload.image.mediaType: is required, the data is not a PNG, JPEG, WEBP or GIF image",
            code="BadPayload",
        )
    return ImageInput(data_base64=encoded, media_type=media_type)


def _too_large(where: str, limits: CapabilityLimits) -> NonRetryableError:
    return NonRetryableError(
        f"{where}: the image is larger than {limits.vision_max_image_bytes} bytes",
        code="ImageTooLarge",
    )


def sniff_media_type(data: bytes) -> str | None:
    """The image type its first bytes announce, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    return None


def parse_detection(text: str) -> Detection:
    """The model's JSON answer as a Detection, or RetryableError(code="BadModelOutput")."""
    answer = text.strip()
    # Some models fence JSON in markdown even when asked for a JSON object.
    if answer.startswith("```"):
        answer = answer.strip("`").removeprefix("json").strip()
    try:
        return Detection.model_validate(json.loads(answer))
    except json.JSONDecodeError:
        raise RetryableError("the model's answer is not JSON", code="BadModelOutput") from None
    except ValidationError as error:
        detail = error.errors(include_url=False, include_input=False)[0]
        raise RetryableError(
            "the model's answer is not the expected JSON: "
            f"{field_path(detail['loc'], 'answer')}: {describe(detail)}",
            code="BadModelOutput",
        ) from None
