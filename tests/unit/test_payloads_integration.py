"""External integration requests: the payload, the allow-list of hosts, statuses mapped to retries.

The checks are pure: the URL against the allow-list, statuses to retry or dead-letter,
bodies decoded in their charset.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.application.capabilities.integration import (
    IntegrationResponse,
    check_url,
    decode_body,
    is_json_type,
    raise_for_status,
)
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import IntegrationPayload
from app.domain.allow_list import allow_list_key
from app.domain.errors import NonRetryableError, RetryableError
from tests.unit.payload_refusal import refusal


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
