"""What the OpenAPI document says about request bodies beyond the models' own schemas.

Text may not hold a NUL character (Postgres cannot store one), `payload` is any JSON
Postgres can store, and each built-in capability publishes the payload it accepts,
with a worked example (app.application.capabilities.catalogue).
"""

from __future__ import annotations

from typing import Any

from app.api.input_types import RequestBody
from app.application.capabilities.catalogue import PAYLOAD_EXAMPLES, PAYLOAD_MODELS
from app.domain.enums import CapabilityType

REF = "#/components/schemas/{model}"
NO_NUL = "^[^\\u0000]*$"
JSON_VALUE = "StorableJson"
STORABLE_JSON: dict[str, Any] = {
    "description": "Any JSON value Postgres can store: no NUL character in a string or a "
    "key, no lone surrogate, finite numbers, nested at most 32 levels deep.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": {"$ref": REF.format(model=JSON_VALUE)}},
        {
            "type": "object",
            "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": {"$ref": REF.format(model=JSON_VALUE)},
        },
    ],
}
CREATE_TASK = "/api/v1/tasks"
CREATE_BATCH = "/api/v1/tasks/batch"


SEND_SIGNAL = "/api/v1/signals"
DECIDE = "/api/v1/tasks/{task_id}/decision"


def document_payloads(document: dict[str, Any]) -> None:
    """Add the text rules, the payload's shape and the capability catalogue."""
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    components[JSON_VALUE] = STORABLE_JSON
    names = _capability_schemas(components)
    paths = document.get("paths", {})
    single = _request_schema(paths.get(CREATE_TASK, {}).get("post"))
    batch = _request_schema(paths.get(CREATE_BATCH, {}).get("post"))
    # The task bodies, as sent alone, in a batch of tasks, in a batch with callbacks, as
    # a saga's steps, as a schedule's task, or as the task a trigger starts.
    task_bodies = [
        single,
        *(
            components.get(name)
            for name in (
                "BatchItem",
                "BatchTask",
                "CreateTask",
                "SagaStepSpec",
                "ScheduleTask",
                "TriggerTask",
            )
        ),
    ]
    signal = _request_schema(paths.get(SEND_SIGNAL, {}).get("post"))
    # Every operation's own request body (most are inline, not components).
    inline = [
        _request_schema(operation)
        for item in paths.values()
        for operation in item.values()
        if isinstance(operation, dict)
    ]
    retry = components.get("RetryPolicyBody")
    # Every request model's component too (waitFor, approval, a trigger's filters…):
    # the walk does not follow $refs.
    requests = [components.get(name) for name in sorted(_request_models())]
    bodies = (*task_bodies, *inline, retry, *requests)
    for schema in bodies:
        if schema is not None:
            _no_nul_in_text(schema)
    # Free JSON a client sends: a signal's data, a decision's input, an approval's schema
    # (no NUL anywhere).
    decision = _request_schema(paths.get(DECIDE, {}).get("post"))
    approval = components.get("ApprovalBody")
    storable = {"$ref": REF.format(model=JSON_VALUE)}
    # An approval's schema is an object (or null), storable like the rest.
    an_object = {
        "type": "object",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": storable,
    }
    a_schema = {"anyOf": [an_object, {"type": "null"}]}
    for schema, name, shape in (
        (signal, "data", storable),
        (decision, "input", storable),
        (approval, "schema", a_schema),
    ):
        if schema is not None and name in schema.get("properties", {}):
            value = schema["properties"][name]
            schema["properties"][name] = {**shape, "description": value.get("description", "")}
    for schema in task_bodies:
        if schema is not None and "payload" in schema.get("properties", {}):
            schema["properties"]["payload"] = _payload_schema(
                schema["properties"]["payload"], names
            )
    if single is not None:
        _content(paths[CREATE_TASK]["post"])["examples"] = {
            capability.value: {
                "summary": f"A {capability.value} task",
                "value": _example_task(capability),
            }
            for capability in CapabilityType
        }
    if batch is not None:
        _content(paths[CREATE_BATCH]["post"])["examples"] = {
            "capabilities": {
                "summary": "One task of each capability",
                "value": {"tasks": [_example_task(c) for c in CapabilityType]},
            }
        }


def _capability_schemas(components: dict[str, Any]) -> dict[CapabilityType, str]:
    """Each capability's payload model under components/schemas; its name by capability."""
    names: dict[CapabilityType, str] = {}
    for capability, model in PAYLOAD_MODELS.items():
        schema = model.model_json_schema(by_alias=True, ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        schema["examples"] = [PAYLOAD_EXAMPLES[capability]]
        components[model.__name__] = schema
        names[capability] = model.__name__
    return names


def _payload_schema(original: dict[str, Any], names: dict[CapabilityType, str]) -> dict[str, Any]:
    rows = "\n".join(
        f"- `{capability.value}`: `{name}`" for capability, name in sorted(names.items())
    )
    return {
        "type": "object",
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": {"$ref": REF.format(model=JSON_VALUE)},
        "default": {},
        "examples": original.get("examples", [{}]),
        "description": "The task's input, any JSON object Postgres can store (see "
        f"`{JSON_VALUE}`). A task whose type has no handler of its own is run by its "
        "`capabilityType`'s built-in handler, which accepts the payload below (each "
        "under components/schemas, with an example); one that does not fit fails the "
        "task as `BadPayload`, naming the field:\n" + rows,
        "x-capability-payloads": {
            capability.value: {"$ref": REF.format(model=name)}
            for capability, name in sorted(names.items())
        },
    }


def _example_task(capability: CapabilityType) -> dict[str, Any]:
    return {
        "type": f"example.{capability.value}",
        "capabilityType": capability.value,
        "payload": PAYLOAD_EXAMPLES[capability],
    }


def _content(operation: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = operation["requestBody"]["content"]["application/json"]
    return content


def _request_schema(operation: dict[str, Any] | None) -> dict[str, Any] | None:
    if operation is None or "requestBody" not in operation:
        return None
    schema: dict[str, Any] = _content(operation)["schema"]
    return schema


def _request_models() -> set[str]:
    """The names of every request model (a RequestBody, at any depth of subclassing)."""
    names: set[str] = set()
    pending: list[type[RequestBody]] = [RequestBody]
    while pending:
        model = pending.pop()
        names.add(model.__name__)
        pending.extend(model.__subclasses__())
    return names


def _no_nul_in_text(schema: Any) -> None:
    """Every free text of a request model (no pattern, format or enum of its own) may
    not contain NUL: the API refuses it with a 422."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul_in_text(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NO_NUL
    for key, value in schema.items():
        if key not in {"examples", "default"}:
            _no_nul_in_text(value)
