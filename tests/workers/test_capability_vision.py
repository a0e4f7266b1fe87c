"""Vision handlers (OCR, object detection): images checked before any call, then sent, answered."""

from __future__ import annotations

import base64
import json

from app.application.capabilities import CapabilityLimits
from app.domain.enums import CapabilityType
from tests.fakes import FakeAiClient
from tests.workers.capability_kit import (
    FAST_RETRY,
    PNG,
    Conn,
    Kit,
    last_error,
    result_of,
    run,
    usage_of,
)
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status


async def test_inline_images_that_are_too_large_invalid_or_doubled_dead_letter_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(limits=CapabilityLimits(vision_max_image_bytes=100))
    cases = {
        "ImageTooLarge": ({"base64": base64.b64encode(PNG).decode()}, "payload.image.base64"),
        "BadPayload": ({"base64": "***"}, "payload.image.base64: is not valid base64"),
    }
    ids = {}
    for code, (image, _) in cases.items():
        [ids[code]] = await enqueue(
            "t", payload={"image": image}, capability_type=CapabilityType.VISION_OCR
        )
    both = {"url": "https://img.example.com/a.png", "base64": "aGk="}
    [ids["both"]] = await enqueue(
        "t", payload={"image": both}, capability_type=CapabilityType.VISION_OBJECT_DETECTION
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, list(ids.values()), {"DeadLetter"})

    for code, (_, message) in cases.items():
        [attempt] = await usage_of(conn, ids[code])
        assert attempt[:2] == ("Failed", code)
        assert (await last_error(conn, ids[code])).startswith(message)
    assert await last_error(conn, ids["both"]) == "payload.image: give exactly one of url or base64"
    assert kit.ai.calls == 0


async def test_image_urls_can_be_turned_off_for_a_provider_inside_the_network(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(limits=CapabilityLimits(vision_image_urls=False))
    image = {"url": "http://169.254.169.254/latest/meta-data/"}
    [task_id] = await enqueue(
        "t", payload={"image": image}, capability_type=CapabilityType.VISION_OCR
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    assert (await last_error(conn, task_id)).startswith("payload.image.url: image URLs are")
    assert kit.ai.calls == 0


async def test_ocr_sends_the_image_and_returns_its_text(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient(["INVOICE 17\nTotal 12.00"]))
    encoded = base64.b64encode(PNG).decode()
    payload = {"image": {"base64": encoded}}
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.VISION_OCR, payload)
    assert await result_of(conn, task_id) == {
        "text": "INVOICE 17\nTotal 12.00",
        "model": "gpt-4o-mini",
    }
    [request] = kit.ai.chat_requests
    [message] = request.messages
    [image] = message.images
    assert (image.data_base64, image.media_type) == (encoded, "image/png")
    assert "Extract all text" in message.text


async def test_object_detection_retries_an_answer_that_is_not_the_json_asked_for(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    good = {"objects": [{"label": "dog", "confidence": 0.8, "box": [0.1, 0.2, 0.3, 0.4]}]}
    kit = Kit(ai=FakeAiClient(["I see a dog", json.dumps(good)]))
    payload = {"image": {"url": "https://img.example.com/dog.jpg"}, "prompt": "Find animals"}
    task_id = await run(
        kit,
        enqueue,
        start_worker,
        conn,
        CapabilityType.VISION_OBJECT_DETECTION,
        payload,
        retry_policy=FAST_RETRY,
    )
    assert [a[:2] for a in await usage_of(conn, task_id)] == [
        ("Failed", "BadModelOutput"),
        ("Succeeded", None),
    ]
    assert await result_of(conn, task_id) == {**good, "model": "gpt-4o-mini"}
    request = kit.ai.chat_requests[0]
    assert request.json_output
    assert request.messages[-1].images[0].url == "https://img.example.com/dog.jpg"
