"""Lifecycle event types: one per state change, in the timeline and the outbox alike."""

from enum import StrEnum


class EventType(StrEnum):
    """`eventType` of a task event; the routing key is `task.<snake name>`."""

    QUEUED = "TaskQueued"
    RUNNING = "TaskRunning"
    PROGRESSED = "TaskProgressed"
    SUCCEEDED = "TaskSucceeded"
    FAILED = "TaskFailed"
    DEAD_LETTERED = "TaskDeadLettered"
    CANCEL_REQUESTED = "TaskCancelRequested"
    CANCELLED = "TaskCancelled"
    RELEASED = "TaskReleased"
    REQUEUED = "TaskRequeued"
