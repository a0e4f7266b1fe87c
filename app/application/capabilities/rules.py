"""RuleEngine: evaluate the task's rules against its data (no model, no code execution)."""

from __future__ import annotations

from typing import Any

from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import RulesPayload, parse_payload
from app.application.context import TaskContext
from app.domain.errors import NonRetryableError
from app.domain.rules import RuleError, compile_rules, matching_rules


async def evaluate_rules(ctx: TaskContext, *, limits: CapabilityLimits) -> dict[str, Any]:
    """Which rules hold for `payload.data`.

    Result {"matched": [names], "results": [{"name", "then"}], "first": the first
    match's `then` or None}. In "first" mode evaluation stops at the first match.
    """
    payload = parse_payload(RulesPayload, ctx.payload, limits=limits)
    try:
        rules = compile_rules(
            payload.rules,
            path="payload.rules",
            max_rules=limits.rule_max_count,
            max_depth=limits.rule_max_depth,
        )
    except RuleError as error:
        raise NonRetryableError(str(error), code="BadPayload") from None
    matched = matching_rules(rules, payload.data, mode=payload.mode)
    return {
        "matched": [rule.name for rule in matched],
        "results": [{"name": rule.name, "then": rule.then} for rule in matched],
        "first": matched[0].then if matched else None,
    }
