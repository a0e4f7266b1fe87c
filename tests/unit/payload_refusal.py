"""Refusals of capability payloads, as the message a caller would read."""

from __future__ import annotations

from typing import Any

import pytest

from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import parse_payload
from app.domain.errors import NonRetryableError


def refusal(model: Any, payload: Any, **limits: Any) -> str:
    with pytest.raises(NonRetryableError) as caught:
        parse_payload(model, payload, limits=CapabilityLimits(**limits))
    assert caught.value.code == "BadPayload"
    return str(caught.value)
