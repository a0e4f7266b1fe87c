"""Capability payloads are checked before anything is called, with errors naming the field.

Also the pure checks the handlers make on what they send and receive: images,
integration URLs, classification answers, detection JSON, rankings.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from app.application.capabilities.classification import match_label
from app.application.capabilities.embedding import cosine_similarity, rank
from app.application.capabilities.integration import (
    IntegrationResponse,
    check_url,
    decode_body,
    is_json_type,
    raise_for_status,
)
from app.application.capabilities.labels import normalise_answer
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import (
    ClassificationPayload,
    EmbeddingPayload,
    GenerationPayload,
    IntegrationPayload,
    RulesPayload,
    VisionPayload,
    parse_payload,
)
from app.application.capabilities.vision import image_input, parse_detection
from app.domain.allow_list import allow_list_key
from app.domain.errors import NonRetryableError, RetryableError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


def refusal(model: Any, payload: Any, **limits: Any) -> str:
    with pytest.raises(NonRetryableError) as caught:
        parse_payload(model, payload, limits=CapabilityLimits(**limits))
    assert caught.value.code == "BadPayload"
    return str(caught.value)


# -- generation -----------------------------------------------------------------------------


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


# -- classification -------------------------------------------------------------------------


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


# -- vision ---------------------------------------------------------------------------------


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


# -- embeddings -----------------------------------------------------------------------------


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


# -- rules ----------------------------------------------------------------------------------


def test_rules_payload_needs_object_data_and_a_known_mode() -> None:
    message = refusal(RulesPayload, {"rules": [], "data": [1], "mode": "any"})
    assert message == "payload.data: must be an object; payload.mode: must be 'first' or 'all'"


# -- integration ----------------------------------------------------------------------------


def request(**fields: Any) -> dict[str, Any]:
    return {"request": {"method": "POST", "url": "https://api.example.com/x", **fields}}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (request(method="TRACE"), "payload.request.method: must be 'GET', 'POST'"),
        (request(headers={"Host": "evil"}), "payload.request.headers: Host is set by the client"),
        (
            request(headers={"Accept-Encoding": "gzip"}),
            "payload.request.headers: Accept-Encoding is set by the client",
        ),
        (request(headers={"X-A": "1\r\nX-B: 2"}), "payload.request.headers: the value of X-A"),
        (request(headers={"X A": "1"}), "payload.request.headers: a header name must be"),
        (request(json={"a": 1}, body="a=1"), "payload.request: give json or body, not both"),
        (request(method="GET", body="x"), "payload.request: a GET request has no body"),
        ({"request": {"method": "GET"}}, "payload.request.url: is required"),
    ],
)
def test_integration_requests_are_checked(payload: Any, message: str) -> None:
    assert refusal(IntegrationPayload, payload).startswith(message)


ALLOWED = CapabilityLimits(
    allowed_hosts=frozenset(
        {
            "api.example.com",
            "secure.example.com:8443",
            "https://Explicit.example.com",
            "http://127.0.0.1:8080",
            "http://hooks.example.com",
            "[::1]:9000",
            "http://[::1]:9001",
            "[2001:DB8::1]",
        }
    )
).allowed_hosts


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://api.example.com/v1?q=1", "api.example.com"),
        ("https://API.example.com:443/", "api.example.com"),
        ("https://secure.example.com:8443/", "secure.example.com:8443"),
        ("https://explicit.example.com/", "explicit.example.com"),
        ("http://127.0.0.1:8080/hook", "127.0.0.1:8080"),
        ("http://hooks.example.com/", "hooks.example.com"),
        ("http://hooks.example.com:80/", "hooks.example.com"),
        ("https://[::1]:9000/", "[::1]:9000"),
        ("https://[0:0:0:0:0:0:0:1]:9000/", "[0:0:0:0:0:0:0:1]:9000"),
        ("https://[2001:db8::1]/", "[2001:db8::1]"),
        ("http://[::1]:9001/", "[::1]:9001"),
    ],
)
def test_allowed_hosts_pass(url: str, key: str) -> None:
    assert check_url(url, ALLOWED) == key


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("https://evil.example.com/", "HostNotAllowed", "https://evil.example.com is not in"),
        ("https://api.example.com:8443/", "HostNotAllowed", "https://api.example.com:8443 is"),
        ("https://secure.example.com/", "HostNotAllowed", "https://secure.example.com is not in"),
        ("http://127.0.0.1/", "HostNotAllowed", "http://127.0.0.1 is not in the allowed"),
        ("https://127.0.0.1:8080/", "HostNotAllowed", "https://127.0.0.1:8080 is not in"),
        ("https://hooks.example.com/", "HostNotAllowed", "https://hooks.example.com is not in"),
        ("http://hooks.example.com:8080/", "HostNotAllowed", "http://hooks.example.com:8080 is"),
        ("http://[::1]:9002/", "HostNotAllowed", "http://[::1]:9002 is not in the allowed"),
        # [::1] has an http:// entry (port 9001), so it is not an https-only host.
        ("http://[::1]:9000/", "HostNotAllowed", "http://[::1]:9000 is not in the allowed"),
        ("http://evil.test#@api.example.com/", "HostNotAllowed", "http://evil.test is not in"),
        ("ftp://api.example.com/", "BadPayload", "must be an http:// or https:// URL"),
        ("https://u:p@api.example.com/", "BadPayload", "must not carry a user name"),
        ("http://api.example.com\\@evil.test/", "BadPayload", "must not carry a user name"),
        ("https://bücher.example/", "BadPayload", "the host must be a name"),
        ("http://api.example.com:99999/", "BadPayload", "is not a valid URL"),
    ],
)
def test_other_targets_are_refused_naming_the_origin(url: str, code: str, message: str) -> None:
    with pytest.raises(NonRetryableError) as caught:
        check_url(url, ALLOWED)
    assert caught.value.code == code
    assert str(caught.value).startswith(f"payload.request.url: {message}")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://api.example.com/v1", "api.example.com"),
        ("http://api.example.com:443/", "api.example.com"),
        ("http://secure.example.com:8443/", "secure.example.com"),
        ("http://explicit.example.com/", "explicit.example.com"),
        ("http://[2001:db8:0::1]/", "[2001:db8::1]"),
    ],
)
def test_a_host_listed_by_name_is_never_called_over_plain_http(url: str, host: str) -> None:
    with pytest.raises(NonRetryableError) as caught:
        check_url(url, ALLOWED)
    assert caught.value.code == "HostNotAllowed"
    origin = url.split("/")[2]
    assert str(caught.value) == (
        f"payload.request.url: http://{origin} is not allowed: only https is listed for {host}"
    )


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("api.example.com", "https://api.example.com:443"),
        (" API.Example.com:8443 ", "https://api.example.com:8443"),
        ("https://api.example.com", "https://api.example.com:443"),
        ("HTTPS://api.example.com:443", "https://api.example.com:443"),
        ("http://127.0.0.1", "http://127.0.0.1:80"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("[::1]", "https://[::1]:443"),
        ("[0:0:0:0:0:0:0:1]:9000", "https://[::1]:9000"),
        ("http://[::FFFF:7f00:1]:8080", "http://[::ffff:7f00:1]:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_allow_list_entries_become_keys_that_are_entries_too(entry: str, key: str) -> None:
    assert allow_list_key(entry) == key
    assert allow_list_key(key) == key


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("ftp://api.example.com", "only http:// and https:// entries are allowed"),
        ("https://api.example.com/v1", "an entry is a host and port, with no path"),
        ("api.example.com/", "an entry is a host and port, with no path"),
        ("http://api.example.com?x=1", "an entry is a host and port, with no path"),
        ("http://user@api.example.com", "an entry is a host and port, with no path"),
        ("api.example.com:99999", "is not host, host:port, https://host[:port] or http://"),
        ("api.example.com:0", "is not host, host:port, https://host[:port] or http://"),
        ("http://", "is not host, host:port, https://host[:port] or http://"),
        ("::1", "is not host, host:port, https://host[:port] or http://"),
        ("[1.2.3.4]", "[1.2.3.4] is not an IPv6 address"),
        ("[::1::2]:80", "[::1::2] is not an IPv6 address"),
    ],
)
def test_a_bad_allow_list_entry_is_refused_by_name(entry: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(repr(entry))) as caught:
        CapabilityLimits(allowed_hosts=frozenset({entry}))
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, RetryableError, "IntegrationThrottled"),
        (408, RetryableError, "IntegrationTimeout"),
        (503, RetryableError, "IntegrationUnavailable"),
        (404, NonRetryableError, "IntegrationRejected"),
        (422, NonRetryableError, "IntegrationRejected"),
    ],
)
def test_error_statuses_map_to_retry_or_dead_letter(
    status: int, error: type[Exception], code: str
) -> None:
    response = IntegrationResponse(status, {"retry-after": "7"}, b"", 1)
    with pytest.raises(error) as caught:
        raise_for_status(response, "POST api.example.com")
    assert getattr(caught.value, "code", None) == code
    assert str(caught.value) == f"POST api.example.com answered {status}"
    if status == 429:
        assert getattr(caught.value, "retry_after", None) == 7.0


def test_success_and_redirect_statuses_pass() -> None:
    for status in (200, 204, 302):
        raise_for_status(IntegrationResponse(status, {}, b"", 1), "GET h")


def test_a_server_error_passes_its_retry_after_on() -> None:
    response = IntegrationResponse(503, {"retry-after": "12"}, b"", 1)
    with pytest.raises(RetryableError) as caught:
        raise_for_status(response, "GET h")
    assert caught.value.retry_after == 12.0


def test_bodies_decode_in_their_charset() -> None:
    assert decode_body("café".encode("latin-1"), "text/plain; charset=ISO-8859-1") == "café"
    assert decode_body("café".encode(), "text/plain; charset=nonsense") == "café"
    assert is_json_type("application/problem+json; charset=utf-8")
    assert not is_json_type("text/html")
