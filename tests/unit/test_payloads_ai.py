"""Payloads of the model capabilities and the rule engine, checked before anything is called.

Also the pure checks the handlers make on what they send and receive: images,
classification answers, detection JSON, rankings.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.application.capabilities.classification import match_label
from app.application.capabilities.embedding import cosine_similarity, rank
from app.application.capabilities.labels import normalise_answer
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import (
    ClassificationPayload,
    EmbeddingPayload,
    GenerationPayload,
    RulesPayload,
    VisionPayload,
    parse_payload,
)
from app.application.capabilities.vision import image_input, parse_detection
from app.domain.errors import NonRetryableError, RetryableError
from tests.unit.payload_refusal import refusal

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def test_generation_accepts_camel_case_options() -> None:
    payload = parse_payload(
        GenerationPayload,
        {"prompt": "Summarise", "context": ["a", "b"], "maxTokens": 300, "temperature": 0.2},
    )
    assert (payload.max_tokens, payload.temperature, payload.context) == (300, 0.2, ["a", "b"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "payload.prompt: is required"),
        ({"prompt": "  "}, "payload.prompt: must not be empty"),
        ({"prompt": 5}, "payload.prompt: must be a string"),
        ({"prompt": "p", "maxTokens": 0}, "payload.maxTokens: must be at least 1"),
        ({"prompt": "p", "maxTokens": 200_001}, "payload.maxTokens: must be at most 200000"),
        ({"prompt": "p", "maxTokens": "50"}, "payload.maxTokens: must be an integer"),
        ({"prompt": "p", "temperature": 2.5}, "payload.temperature: must be at most 2"),
        ({"prompt": "p", "context": 7}, "payload.context: must be a string, a list or an object"),
        ({"prompt": "p", "max_tokens": 5}, "payload.max_tokens: is not a known field"),
        ({"prompt": "p", "model": ""}, "payload.model: must be 1 to 200 characters"),
        ([], "payload: must be an object"),
    ],
)
def test_generation_refusals_name_the_field(payload: Any, message: str) -> None:
    assert refusal(GenerationPayload, payload) == message


def test_several_problems_are_reported_together() -> None:
    message = refusal(GenerationPayload, {"maxTokens": 0, "temperature": -1})
    assert message == (
        "payload.prompt: is required; payload.maxTokens: must be at least 1; "
        "payload.temperature: must be at least 0"
    )


def test_a_refusal_never_echoes_the_value() -> None:
    assert "secret-text" not in refusal(GenerationPayload, {"prompt": ["secret-text"]})


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["only"], "payload.labels: must list at least 2 labels"),
        (["a", " "], "payload.labels[1]: must not be empty"),
        (
            ["Yes", "yes"],
            "payload.labels: must not repeat a label (ignoring case, quotes, a final period)",
        ),
        (
            ["yes", '"yes."'],
            "payload.labels: must not repeat a label (ignoring case, quotes, a final period)",
        ),
        (["a", "..."], "payload.labels: a label must have letters or digits"),
        ("a,b", "payload.labels: must be a list"),
        (["a", "b", "c", "d"], "payload.labels: must list at most 3 labels"),
    ],
)
def test_classification_labels_are_checked(labels: Any, message: str) -> None:
    payload = {"text": "t", "labels": labels}
    assert refusal(ClassificationPayload, payload, classification_max_labels=3) == message


def test_an_answer_matches_a_label_despite_quotes_case_and_a_period() -> None:
    labels = ["positive", "negative", "N/A"]
    assert match_label(' "Positive." ', labels) == "positive"
    assert match_label("**negative**", labels) == "negative"
    assert match_label("n/a", labels) == "N/A"
    assert match_label("positive, mostly", labels) is None
    assert normalise_answer("`yes`.\n") == "yes"


def test_an_image_needs_exactly_one_source() -> None:
    both = {"image": {"url": "https://x.test/a.png", "base64": "aGk="}}
    assert refusal(VisionPayload, both) == "payload.image: give exactly one of url or base64"
    assert refusal(VisionPayload, {"image": {}}) == (
        "payload.image: give exactly one of url or base64"
    )


def test_an_image_url_must_be_http() -> None:
    message = refusal(VisionPayload, {"image": {"url": "file:///etc/passwd"}})
    assert message == "payload.image.url: must be an http:// or https:// URL"


def test_an_unknown_media_type_is_refused() -> None:
    message = refusal(VisionPayload, {"image": {"base64": "aGk=", "mediaType": "image/bmp"}})
    assert message.startswith("payload.image.mediaType: must be 'image/png'")


def image(**fields: Any) -> Any:
    return parse_payload(VisionPayload, {"image": fields}).image


def test_inline_image_data_must_be_strict_base64() -> None:
    with pytest.raises(NonRetryableError) as caught:
        image_input(image(base64="not base64!"), CapabilityLimits())
    assert (caught.value.code, str(caught.value)) == (
        "BadPayload",
        "payload.image.base64: is not valid base64",
    )


def test_inline_image_data_must_fit_the_limit() -> None:
    encoded = base64.b64encode(PNG).decode()
    with pytest.raises(NonRetryableError) as caught:
        image_input(image(base64=encoded), CapabilityLimits(vision_max_image_bytes=100))
    assert caught.value.code == "ImageTooLarge"
    assert str(caught.value).startswith("payload.image.base64: the image is larger than 100")


def test_the_media_type_is_recognised_from_the_data_when_not_given() -> None:
    encoded = base64.b64encode(PNG).decode()
    sent = image_input(image(base64=encoded), CapabilityLimits())
    assert (sent.media_type, sent.data_base64) == ("image/png", encoded)
    with pytest.raises(NonRetryableError, match=r"^payload\.image\.mediaType: is required"):
        image_input(image(base64=base64.b64encode(b"plain text").decode()), CapabilityLimits())


def test_a_detection_answer_must_be_the_documented_json() -> None:
    good = '```json\n{"objects": [{"label": "cat", "confidence": 0.9, "box": [0, 0, 1, 1]}]}\n```'
    assert parse_detection(good).objects[0].label == "cat"
    for bad, reason in [
        ("a cat", "not JSON"),
        ('{"things": []}', "answer.objects: is required"),
        ('{"objects": [{"label": "cat", "confidence": 2, "box": [0, 0, 1, 1]}]}', "confidence"),
    ]:
        with pytest.raises(RetryableError, match=reason) as caught:
            parse_detection(bad)
        assert caught.value.code == "BadModelOutput"


def test_embedding_candidates_are_bounded() -> None:
    payload = {"query": "q", "candidates": ["a", "b", "c"]}
    assert refusal(EmbeddingPayload, payload, embedding_max_candidates=2) == (
        "payload.candidates: must list 1 to 2 candidates"
    )
    assert refusal(EmbeddingPayload, {"query": "q", "candidates": ["a"], "topK": 0}) == (
        "payload.topK: must be at least 1"
    )


def test_cosine_similarity_and_ranking() -> None:
    assert cosine_similarity([1, 0], [1, 0]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine_similarity([0, 0], [1, 1]) == 0.0
    assert rank([0.2, 0.9, 0.2, 0.5]) == [1, 3, 0, 2]
    assert rank([0.2, 0.9, 0.2, 0.5], top_k=2) == [1, 3]


def test_rules_payload_needs_object_data_and_a_known_mode() -> None:
    message = refusal(RulesPayload, {"rules": [], "data": [1], "mode": "any"})
    assert message == "payload.data: must be an object; payload.mode: must be 'first' or 'all'"
