"""The catalogue names a payload model and a valid example for every capability."""

from __future__ import annotations

import pytest

from app.application.capabilities.catalogue import PAYLOAD_EXAMPLES, PAYLOAD_MODELS
from app.application.capabilities.door import builtin_payload_errors
from app.application.capabilities.payloads import parse_payload
from app.domain.enums import CapabilityType


def test_every_capability_has_a_model_and_an_example() -> None:
    assert set(PAYLOAD_MODELS) == set(CapabilityType)
    assert set(PAYLOAD_EXAMPLES) == set(CapabilityType)


@pytest.mark.parametrize("capability", list(CapabilityType))
def test_each_example_is_a_valid_payload_of_its_capability(capability: CapabilityType) -> None:
    parse_payload(PAYLOAD_MODELS[capability], PAYLOAD_EXAMPLES[capability])
    assert builtin_payload_errors(capability, PAYLOAD_EXAMPLES[capability]) == ()
