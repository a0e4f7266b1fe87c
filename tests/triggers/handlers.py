"""Handlers for trigger tests, loaded in-process or with `assistente worker --app`."""

from __future__ import annotations

import asyncio
from typing import Any

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry

registry = HandlerRegistry()


@registry.handler("ocr")
async def ocr(ctx: TaskContext) -> dict[str, Any]:
    """Read a document: take `seconds`, return its text."""
    await asyncio.sleep(float(ctx.payload.get("seconds", 0)))
    return {"text": f"the text of {ctx.payload.get('documentId')}", "pages": 2}


@registry.handler("summarize")
async def summarize(ctx: TaskContext) -> dict[str, Any]:
    """Summarize the text it was given."""
    return {"summary": str(ctx.payload.get("text"))[:12]}


@registry.handler("loop.a")
@registry.handler("loop.b")
async def step(ctx: TaskContext) -> dict[str, Any]:
    return {"seen": ctx.payload.get("from")}
