"""The check at the door: a payload the built-in capability handler would refuse is
named field by field, and only for tasks that would run that handler."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from app.application.capabilities import capability_handlers
from app.application.capabilities.door import (
    CachedHandlerDirectory,
    builtin_payload_errors,
    check_builtin_payloads,
)
from app.application.capabilities.limits import CapabilityLimits
from app.application.handlers import HandledTypes, HandlerRegistry
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable

EMBEDDING = CapabilityType.EMBEDDING_SEARCH


def fields(errors: Any) -> dict[str, str]:
    return {error.field: error.message for error in errors}


def test_documents_instead_of_candidates_names_both_fields() -> None:
    errors = builtin_payload_errors(EMBEDDING, {"query": "reset", "documents": ["a", "b"]})
    assert fields(errors) == {
        "payload.candidates": "is required",
        "payload.documents": "is not a known field",
    }


def test_a_nested_field_is_named_by_its_path() -> None:
    payload = {"request": {"method": "GET", "url": "https://a.example", "headers": {"Host": "x"}}}
    errors = builtin_payload_errors(CapabilityType.EXTERNAL_INTEGRATION, payload)
    assert list(fields(errors)) == ["payload.request.headers"]


def test_a_rule_that_cannot_be_compiled_is_named_by_its_path() -> None:
    payload = {"rules": [{"name": "r", "when": {"field": "a", "op": "like"}}], "data": {}}
    errors = builtin_payload_errors(CapabilityType.RULE_ENGINE, payload)
    assert [e.field for e in errors] == ["payload.rules.0.when.op"]


def test_a_number_given_as_a_string_is_refused_as_the_handler_would() -> None:
    errors = builtin_payload_errors(EMBEDDING, {"query": "q", "candidates": ["a"], "topK": "2"})
    assert fields(errors) == {"payload.topK": "must be an integer"}


class Directory:
    """A HandlerDirectory that counts its reads."""

    def __init__(self, handled: HandledTypes) -> None:
        self.value, self.reads = handled, 0

    async def record(
        self, worker_id: str, types: Collection[str], capabilities: Collection[CapabilityType]
    ) -> None:
        self.value = HandledTypes(self.value.types | set(types), self.value.capabilities)

    async def handled(self) -> HandledTypes:
        self.reads += 1
        return self.value


WRONG = {"query": "q", "documents": ["a"]}


async def test_only_tasks_without_a_handler_of_their_own_are_checked() -> None:
    directory = Directory(HandledTypes(types=frozenset({"mine.search"})))
    tasks = [
        ("mine.search", EMBEDDING, WRONG),  # its own handler reads this payload
        ("search", EMBEDDING, WRONG),  # the built-in handler would refuse it
        ("search", None, WRONG),  # no capability: nothing to check against
    ]
    found = await check_builtin_payloads(tasks, directory=directory)
    assert [(unfit.index, unfit.capability) for unfit in found] == [(1, EMBEDDING)]


async def test_a_capability_whose_handler_an_app_replaced_is_not_checked() -> None:
    directory = Directory(HandledTypes(capabilities=frozenset({EMBEDDING})))
    assert await check_builtin_payloads([("search", EMBEDDING, WRONG)], directory=directory) == []


async def test_tasks_without_a_capability_do_not_read_the_directory() -> None:
    directory = Directory(HandledTypes())
    await check_builtin_payloads([("demo.noop", None, {})], directory=directory)
    assert directory.reads == 0


async def test_the_directory_is_read_again_only_after_its_max_age() -> None:
    now = [100.0]
    inner = Directory(HandledTypes())
    cached = CachedHandlerDirectory(inner, max_age=5.0, clock=lambda: now[0])
    await cached.handled()
    now[0] += 4.9
    await cached.handled()
    assert inner.reads == 1
    now[0] += 0.2
    await cached.handled()
    assert inner.reads == 2


def test_the_registry_tells_replaced_capabilities_from_built_in_ones() -> None:
    builtin = capability_handlers(
        ai=None,  # type: ignore[arg-type]  # never called: the handlers are only listed
        prices=PriceTable.defaults(),
        integration=None,  # type: ignore[arg-type]
        artifacts=None,  # type: ignore[arg-type]
        limits=CapabilityLimits(),
    )
    app = HandlerRegistry()

    async def my_search(ctx: object) -> dict[str, Any]:
        return {}

    app.register_capability(EMBEDDING, my_search)
    merged = HandlerRegistry()
    merged.include(app)
    merged.include(builtin)  # as the worker is wired: the app's handler comes first
    assert builtin.replaced_capabilities() == frozenset()
    assert merged.replaced_capabilities() == {EMBEDDING}
