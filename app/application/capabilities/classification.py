"""LLM_Classification: the one label, out of the task's list, that fits a text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.application.ai import AiClient, ChatMessage, ChatRequest
from app.application.capabilities.labels import label_key
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import ClassificationPayload, parse_payload
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.domain.enums import CapabilityType
from app.domain.errors import RetryableError
from app.domain.pricing import PriceTable

# What a model wraps a one-word answer in: quotes of every kind, markdown emphasis.
MAX_RAW_IN_ERROR = 200
MAX_LABELS_IN_ERROR = 1000


async def classify_text(
    ctx: TaskContext,
    *,
    ai: AiClient,
    prices: PriceTable,
    limits: CapabilityLimits,
) -> dict[str, Any]:
    """Ask for exactly one of `payload.labels`; result {"label", "raw"}.

    An answer outside the list is a RetryableError (code LabelNotAllowed): a model
    that strays once usually answers properly when asked again, and when the attempts
    run out the task dead-letters with the answer and the allowed labels in its error.
    """
    payload = parse_payload(ClassificationPayload, ctx.payload, limits=limits)
    request = ChatRequest(
        capability=CapabilityType.LLM_CLASSIFICATION,
        messages=classification_messages(payload),
        model=payload.model,
        choices=tuple(payload.labels),
    )
    ctx.update(state="calling model")
    result = await ai.chat(request)
    # Charged before the answer is checked: a wrong answer costs as much as a right one.
    charge(ctx, result, prices, ctx.log)
    label = match_label(result.text, payload.labels)
    if label is None:
        raise RetryableError(label_not_allowed(result.text, payload.labels), code="LabelNotAllowed")
    return {"label": label, "raw": result.text}


def classification_messages(payload: ClassificationPayload) -> tuple[ChatMessage, ...]:
    """A system message fixing the answer's form, and the labels and text as the user's."""
    system = (
        "You classify text. Answer with exactly one label from the list you are given, "
        "spelled as in the list, and nothing else: no explanation, no punctuation."
    )
    if payload.instructions is not None:
        system += f"\n\nInstructions for this classification:\n{payload.instructions}"
    labels = "\n".join(f"- {label}" for label in payload.labels)
    user = f"Labels:\n{labels}\n\nText to classify:\n{payload.text}"
    return ChatMessage("system", system), ChatMessage("user", user)


def match_label(raw: str, labels: Sequence[str]) -> str | None:
    """The label (as the task spelled it) that the answer names, ignoring case; or None."""
    answer = label_key(raw)
    for label in labels:
        if label_key(label) == answer:
            return label
    return None


def label_not_allowed(raw: str, labels: Sequence[str]) -> str:
    """The error message: the answer (cut short) and the labels it should have been."""
    shown = raw.strip()
    if len(shown) > MAX_RAW_IN_ERROR:
        shown = shown[:MAX_RAW_IN_ERROR] + "…"
    allowed = ", ".join(repr(label) for label in labels)
    if len(allowed) > MAX_LABELS_IN_ERROR:
        allowed = allowed[:MAX_LABELS_IN_ERROR] + "…"
    return f"the model answered {shown!r}, which is not one of the allowed labels: {allowed}"
