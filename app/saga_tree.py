"""A saga drawn as a tree for `assistente tasks show`: the saga, its steps in order,
each step's compensation under it."""

from __future__ import annotations

from app.application.sagas import SagaRecord, StepView


def _step_line(step: StepView) -> str:
    name = f" {step.name}" if step.name else ""
    error = f"  ({step.last_error[:60]})" if step.last_error else ""
    return f"step {step.position}{name}  {step.task_id}  {step.type}  {step.status.value}{error}"


def _compensation_line(step: StepView) -> str | None:
    if step.compensation_type is None:
        return None
    if step.compensation_task_id is None or step.compensation_status is None:
        return f"compensation {step.compensation_type} (not run)"
    error = f"  ({step.compensation_error[:60]})" if step.compensation_error else ""
    return (
        f"compensation {step.compensation_task_id}  {step.compensation_type}"
        f"  {step.compensation_status.value}{error}"
    )


def saga_tree(saga: SagaRecord) -> list[str]:
    """The saga and its phase, then each step with its compensation under it."""
    failed = []
    if saga.failed_step is not None:
        failed.append(f"failed step {saga.failed_step}")
    if saga.failed_compensation is not None:
        failed.append(f"failed compensation of step {saga.failed_compensation}")
    lines = [
        f"saga {saga.id}  {saga.status.value}  {saga.phase.value}"
        + (f"  ({', '.join(failed)})" if failed else "")
    ]
    for n, step in enumerate(saga.steps):
        last = n == len(saga.steps) - 1
        lines.append(("└─ " if last else "├─ ") + _step_line(step))
        compensation = _compensation_line(step)
        if compensation is not None:
            lines.append(("   " if last else "│  ") + "└─ " + compensation)
    return lines
