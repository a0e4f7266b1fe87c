"""LLM_Generation and LLM_Reasoning: one chat completion for a prompt and its context."""

from __future__ import annotations

import json
from typing import Any

from app.application.ai import AiClient, ChatMessage, ChatRequest
from app.application.artifact_store import ArtifactStore
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.outputs import save_text
from app.application.capabilities.payloads import GenerationPayload, parse_payload
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable


async def generate_text(
    ctx: TaskContext,
    *,
    capability: CapabilityType,
    ai: AiClient,
    prices: PriceTable,
    artifacts: ArtifactStore,
    limits: CapabilityLimits,
) -> dict[str, Any]:
    """Answer `payload.prompt` (with its context); the text is saved as an artifact.

    Result: {"text" (None and "textArtifact" when stored outside), "model",
    "finishReason", "tokensIn", "tokensOut"}.
    """
    payload = parse_payload(GenerationPayload, ctx.payload, limits=limits)
    request = ChatRequest(
        capability=capability,
        messages=generation_messages(payload),
        model=payload.model,
        max_tokens=payload.max_tokens,
        temperature=payload.temperature,
    )
    ctx.update(state="calling model")
    result = await ai.chat(request)
    # Charged before anything else can fail: the call was made and paid for.
    charge(ctx, result, prices, ctx.log)
    ctx.update(state="saving output")
    saved = await save_text(ctx, result.text, name="output.txt", artifacts=artifacts, limits=limits)
    return {
        **saved.as_fields("text"),
        "model": result.model,
        "finishReason": result.finish_reason,
        "tokensIn": result.tokens_in,
        "tokensOut": result.tokens_out,
    }


def generation_messages(payload: GenerationPayload) -> tuple[ChatMessage, ...]:
    """The system message (if any) and one user message: the prompt, then the context."""
    messages: list[ChatMessage] = []
    if payload.system is not None:
        messages.append(ChatMessage("system", payload.system))
    user = payload.prompt
    if payload.context is not None:
        context = payload.context
        if not isinstance(context, str):
            # Lists and objects travel as JSON, which models read reliably.
            context = json.dumps(context, ensure_ascii=False, indent=2)
        user = f"{payload.prompt}\n\nContext:\n{context}"
    messages.append(ChatMessage("user", user))
    return tuple(messages)
