"""Text outputs: small ones inline in Postgres, large ones in the artifact store.

Either way the output gets a `task_artifacts` row. A small output is also returned
in the task's result; a large one is replaced there by a reference (name, uri,
size), so the result row stays small and a client fetches the text separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.application.artifact_store import ArtifactStore
from app.application.capabilities.limits import CapabilityLimits
from app.application.context import TaskContext
from app.application.execution import clean_text


@dataclass(frozen=True, slots=True)
class SavedText:
    """Where an output went: `text` when inline, `reference` when in the artifact store."""

    text: str | None
    reference: dict[str, Any] | None = None

    def as_fields(self, key: str) -> dict[str, Any]:
        """Result fields: {key: text}, or {key: None, keyArtifact: reference} when stored."""
        if self.reference is None:
            return {key: self.text}
        return {key: None, f"{key}Artifact": self.reference}


async def save_text(
    ctx: TaskContext,
    text: str,
    *,
    name: str,
    artifacts: ArtifactStore,
    limits: CapabilityLimits,
    kind: str = "text",
    content_type: str = "text/plain; charset=utf-8",
) -> SavedText:
    """Store `text` as an artifact of the task; inline when it fits `limits.inline_max_bytes`."""
    # Postgres text cannot hold NUL or lone surrogates; a model may still produce them.
    cleaned = clean_text(text) or ""
    data = cleaned.encode("utf-8")
    if len(data) <= limits.inline_max_bytes:
        await ctx.add_artifact(kind, content=cleaned, name=name, content_type=content_type)
        return SavedText(cleaned)
    uri = await artifacts.put(ctx.task_id, name, data)
    await ctx.add_artifact(
        "file", uri=uri, name=name, content_type=content_type, size_bytes=len(data)
    )
    ctx.log.info("output_stored_outside", artifact=name, size_bytes=len(data))
    return SavedText(
        None, {"name": name, "uri": uri, "sizeBytes": len(data), "contentType": content_type}
    )
