"""OpenAICompatibleClient's failures become the engine's retryable or final errors."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from app.domain.errors import NonRetryableError, RetryableError
from app.domain.retry import retry_after_from_headers
from tests.ai.conftest import KEY, PROMPT, MakeClient
from tests.ai.conftest import chat_request as chat
from tests.fake_openai import FakeOpenAI, FakeReply


async def test_a_rate_limit_is_retryable_after_the_seconds_the_provider_asks(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(FakeReply(status=429, headers={"Retry-After": "3"}))

    with pytest.raises(RetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.code == "ProviderRateLimited"
    assert caught.value.retry_after == 3.0
    assert "429" in str(caught.value)


async def test_a_rate_limit_with_an_http_date_waits_until_that_date(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    fake_openai.script_chat(
        FakeReply(status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )

    with pytest.raises(RetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 121


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "Wed, 25 Nov 2026 15:00:30 GMT"}, 30.0),
        ({"retry-after": "1000000000"}, 3600.0),
        ({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}, 3600.0),
        ({"retry-after-ms": "junk", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_retry_after_reads_milliseconds_seconds_and_dates_and_is_capped_at_an_hour(
    headers: dict[str, str], expected: float | None
) -> None:
    now = datetime(2026, 11, 25, 15, 0, 0, tzinfo=UTC)

    assert retry_after_from_headers(headers, now=now) == expected


async def test_an_exhausted_quota_is_not_retried(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(
        FakeReply(
            status=429,
            error_message="You exceeded your current quota",
            error_type="insufficient_quota",
            error_code="insufficient_quota",
        )
    )

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.code == "ProviderQuotaExceeded"


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
async def test_server_errors_are_retryable(
    fake_openai: FakeOpenAI, make_client: MakeClient, status: int
) -> None:
    fake_openai.script_chat(FakeReply(status=status, error_message="The server had an error"))

    with pytest.raises(RetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.code == "ProviderUnavailable"
    assert f"HTTP {status}: The server had an error" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 418])
async def test_client_errors_are_rejected_naming_the_status_and_reason_only(
    fake_openai: FakeOpenAI, make_client: MakeClient, status: int
) -> None:
    fake_openai.script_chat(FakeReply(status=status, error_message="Invalid 'messages'"))

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.code == "ProviderRejected"
    assert f"HTTP {status}: Invalid 'messages'" in str(caught.value)
    assert KEY not in str(caught.value)
    assert PROMPT not in str(caught.value)


async def test_a_key_echoed_by_the_provider_is_masked_in_the_error(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(
        FakeReply(status=401, error_message=f"Incorrect API key provided: {KEY}.")
    )

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert KEY not in str(caught.value)
    assert "Incorrect API key provided" in str(caught.value)


async def test_a_long_provider_reason_is_cut_short(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(FakeReply(status=400, error_message="x" * 5000))

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert len(str(caught.value)) < 400


async def test_a_provider_slower_than_the_timeout_is_a_retryable_timeout(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(FakeReply(delay=5.0))

    with pytest.raises(RetryableError) as caught:
        await make_client(timeout=0.3).chat(chat())

    assert caught.value.code == "ProviderTimeout"


async def test_a_closed_port_is_a_retryable_unreachable_provider(make_client: MakeClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(RetryableError) as caught:
        await make_client(base_url=f"http://127.0.0.1:{port}/v1").chat(chat())

    assert caught.value.code == "ProviderUnreachable"
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        "<html>Welcome to nginx</html>",
        {"choices": []},
        {"object": "chat.completion"},
        {"choices": [{"message": {"role": "assistant", "content": None}}]},
        {"choices": [{"message": {"content": None, "refusal": "I can't help with that"}}]},
        [1, 2, 3],
    ],
)
async def test_a_successful_answer_in_the_wrong_shape_is_a_bad_response(
    fake_openai: FakeOpenAI, make_client: MakeClient, body: Any
) -> None:
    fake_openai.script_chat(FakeReply(body=body))

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert caught.value.code == "ProviderBadResponse"


async def test_an_answer_larger_than_the_cap_is_refused(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(FakeReply(text="y" * 5000))

    with pytest.raises(NonRetryableError) as caught:
        await make_client(max_response_bytes=1024).chat(chat())

    assert caught.value.code == "ProviderBadResponse"
    assert "larger than 1024 bytes" in str(caught.value)


async def test_redirects_are_not_followed(fake_openai: FakeOpenAI, make_client: MakeClient) -> None:
    fake_openai.script_chat(FakeReply(status=307, headers={"Location": "/v1/elsewhere"}, body=b""))

    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat())

    assert "307" in str(caught.value)
    assert len(fake_openai.requests) == 1


async def test_a_key_echoed_across_the_cut_of_a_long_error_is_still_hidden(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    azure_key = "0123456789abcdef0123456789abcdef"
    # The key straddles the 300th character, where the reason is cut short.
    message = "x" * 290 + f" key {azure_key} is not valid for this resource"
    fake_openai.script_chat(FakeReply(status=401, error_message=message))

    with pytest.raises(NonRetryableError) as caught:
        await make_client(api_key=azure_key, auth_header="api-key").chat(chat())

    assert azure_key[:8] not in str(caught.value)
