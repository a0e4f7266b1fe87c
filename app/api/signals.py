"""/api/v1/signals: facts from outside that resume the tasks waiting for them.

Thin handlers: parse, charge the tenant's signal budget, call the use case, map the
result (docs/design/signals.md).
"""

from __future__ import annotations

import uuid

from quart import Blueprint, Response
from quart_schema import document_request, document_response
from werkzeug.datastructures import Headers

from app.api.auth import charge_signal, require_api_key, tenant_scope
from app.api.bodies import json_bodies_only, model_response, request_model
from app.api.dependencies import deps
from app.api.problems import ProblemError
from app.api.signal_schemas import SendSignalRequest, SignalBody, SignalDetail
from app.application.signal_store import SignalRecord, SignalStore
from app.application.signals import SendSignal, get_signal, send_signal

blueprint = Blueprint("signals", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)
blueprint.before_request(json_bodies_only)


def store() -> SignalStore:
    found = deps().signals
    if found is None:
        raise ProblemError(503, "Signals are not available in this process.")
    return found


@blueprint.post("/signals")
@document_request(SendSignalRequest)
@document_response(SignalBody, 201)
@document_response(SignalBody, 200)
async def new_signal() -> Response:
    """Send a signal: resume every task of your tenant waiting for it.

    Every task of your tenant waiting for its `name` and `key` is resumed now
    (`resumed` counts them), and the signal is kept `retentionSeconds`, so a wait
    registered within that window is answered at once by the newest live signal of its
    name and key.

    Send an `id` to make retries safe: the same id with the same body answers the first
    delivery again (200, `Idempotent-Replayed: true`, nothing resumed twice); with
    another body it is a 422. At most API_SIGNALS_PER_SECOND signals a second per
    tenant (429 with Retry-After past it).
    """
    data = await request_model(SendSignalRequest)
    await charge_signal()
    dependencies = deps()
    sent = await send_signal(
        SendSignal(
            tenant_id=tenant_scope(),
            name=data.name,
            key=data.key,
            data=data.data,
            id=data.id,
            retention_seconds=data.retention_seconds,
        ),
        signals=store(),
        default_retention_seconds=dependencies.signal_retention_seconds,
    )
    headers = Headers({"Location": f"/api/v1/signals/{sent.signal.id}"})
    if not sent.created:
        headers["Idempotent-Replayed"] = "true"
    body = SignalBody.model_validate(_fields(sent.signal))
    return model_response(body, 201 if sent.created else 200, headers)


@blueprint.get("/signals/<uuid:signal_id>")
@document_response(SignalDetail, 200)
async def show_signal(signal_id: uuid.UUID) -> Response:
    """A signal your tenant sent, with its data.

    Found while it is kept, and after `expiresAt` until the maintenance leader prunes
    it; another tenant's signal is a 404."""
    record = await get_signal(tenant_scope(), signal_id, signals=store())
    return model_response(SignalDetail.model_validate(_fields(record)), 200)


def _fields(record: SignalRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name,
        "key": record.key,
        "data": record.data,
        "received_at": record.received_at,
        "expires_at": record.expires_at,
        "resumed": record.resumed,
    }
