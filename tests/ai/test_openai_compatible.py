"""OpenAICompatibleClient against a real HTTP server on loopback: what it sends and reads."""

from __future__ import annotations

import pytest

from app.adapters.ai import OpenAICompatibleClient
from app.application.ai import ChatMessage, ChatRequest, EmbeddingRequest, ImageInput
from app.domain.enums import CapabilityType
from app.domain.errors import NonRetryableError
from tests.ai.conftest import KEY, MODELS, MakeClient
from tests.ai.conftest import chat_request as chat
from tests.fake_openai import FakeOpenAI, FakeReply


async def test_chat_returns_the_text_tokens_and_model_the_provider_answered(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_chat(
        FakeReply(text="hello", tokens_in=12, tokens_out=5, model="gen-model-2024-07-18")
    )

    result = await make_client().chat(chat())

    assert (result.text, result.tokens_in, result.tokens_out) == ("hello", 12, 5)
    assert result.model == "gen-model-2024-07-18"
    assert result.finish_reason == "stop"
    assert result.latency_ms >= 0


async def test_chat_sends_the_capability_model_messages_and_options(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    request = ChatRequest(
        capability=CapabilityType.LLM_CLASSIFICATION,
        messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "Spam or ham?")),
        max_tokens=7,
        temperature=0.2,
    )

    result = await make_client().chat(request)

    sent = fake_openai.chat_requests[-1].json
    assert sent == {
        "model": "class-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Spam or ham?"},
        ],
        "max_tokens": 7,
        "temperature": 0.2,
    }
    assert result.text == "echo: Spam or ham?"


async def test_a_model_named_by_the_request_overrides_the_capability_default(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    result = await make_client().chat(chat(model="custom-model"))

    assert fake_openai.chat_requests[-1].json["model"] == "custom-model"
    assert result.model == "custom-model"


async def test_reasoning_caps_tokens_with_max_completion_tokens(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    await make_client().chat(chat(capability=CapabilityType.LLM_REASONING, max_tokens=50))

    sent = fake_openai.chat_requests[-1].json
    assert sent["model"] == "reason-model"
    assert sent["max_completion_tokens"] == 50
    assert "max_tokens" not in sent


async def test_json_output_asks_for_a_json_object(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    await make_client().chat(chat("Answer in JSON", json_output=True))

    assert fake_openai.chat_requests[-1].json["response_format"] == {"type": "json_object"}


async def test_vision_images_are_sent_as_content_parts_with_urls_and_data_urls(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    images = (
        ImageInput(url="https://example.com/cat.png"),
        ImageInput(data_base64="aGVsbG8=", media_type="image/jpeg"),
    )
    request = ChatRequest(
        capability=CapabilityType.VISION_OCR,
        messages=(ChatMessage("user", "Read the text", images=images),),
    )

    await make_client().chat(request)

    sent = fake_openai.chat_requests[-1].json
    assert sent["model"] == "eye"
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "Read the text"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGVsbG8="}},
    ]


async def test_the_key_goes_as_a_bearer_token_in_authorization(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    await make_client().chat(chat())

    received = fake_openai.chat_requests[-1]
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.query == {}


async def test_an_azure_style_key_header_carries_the_key_as_is_with_query_params(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    client = make_client(auth_header="api-key", query_params="api-version=2024-10-21")

    await client.chat(chat())
    await client.embed(EmbeddingRequest(texts=("a",)))

    for received in fake_openai.requests:
        assert received.headers["api-key"] == KEY
        assert "authorization" not in received.headers
        assert received.query == {"api-version": "2024-10-21"}


async def test_no_key_sends_no_credentials(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    await make_client(api_key=None).chat(chat())

    assert "authorization" not in fake_openai.chat_requests[-1].headers


async def test_a_model_that_is_not_configured_is_not_retried(make_client: MakeClient) -> None:
    with pytest.raises(NonRetryableError) as caught:
        await make_client().chat(chat(capability=CapabilityType.RULE_ENGINE))

    assert caught.value.code == "AiModelNotConfigured"


async def test_embeddings_send_the_model_and_texts_and_return_one_vector_each(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    result = await make_client().embed(EmbeddingRequest(texts=("one two", "three")))

    assert fake_openai.embedding_requests[-1].json == {
        "model": "embed-model",
        "input": ["one two", "three"],
    }
    assert len(result.vectors) == 2
    assert (result.model, result.tokens_in) == ("embed-model", 3)


async def test_embeddings_are_ordered_by_their_index(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_embeddings(
        FakeReply(
            body={
                "data": [
                    {"index": 1, "embedding": [0.0, 1.0]},
                    {"index": 0, "embedding": [1.0, 0.0]},
                ],
                "model": "embed-model",
                "usage": {"prompt_tokens": 2},
            }
        )
    )

    result = await make_client().embed(EmbeddingRequest(texts=("first", "second")))

    assert result.vectors == ((1.0, 0.0), (0.0, 1.0))


async def test_fewer_vectors_than_texts_is_a_bad_response(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    fake_openai.script_embeddings(FakeReply(vectors=[[1.0, 0.0]]))

    with pytest.raises(NonRetryableError) as caught:
        await make_client().embed(EmbeddingRequest(texts=("first", "second")))

    assert caught.value.code == "ProviderBadResponse"
    assert "1 vectors for 2 texts" in str(caught.value)


async def test_an_empty_embedding_request_makes_no_call(
    fake_openai: FakeOpenAI, make_client: MakeClient
) -> None:
    result = await make_client().embed(EmbeddingRequest(texts=()))

    assert result.vectors == ()
    assert fake_openai.requests == []


async def test_repr_hides_the_key(make_client: MakeClient) -> None:
    client = make_client()

    assert KEY not in repr(client)
    assert "***" in repr(client)


def test_a_key_a_header_cannot_carry_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError) as caught:
        OpenAICompatibleClient(
            base_url="http://127.0.0.1:1/v1",
            api_key="sk-two words",
            models=MODELS,
            embedding_model="embed-model",
        )

    assert "sk-two" not in str(caught.value)
