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
    # Waits on the outside world (docs/design/waits.md).
    AWAITING_INPUT = "TaskAwaitingInput"
    AWAITING_SIGNAL = "TaskAwaitingSignal"
    DECIDED = "TaskDecided"
    SIGNALLED = "TaskSignalled"
    WAIT_TIMED_OUT = "TaskWaitTimedOut"


class BatchEventType(StrEnum):
    """`eventType` of a batch's own events: events of its parent task (taskId is the
    batch id), published like every task event; routing key `task.batch_<name>`."""

    CREATED = "BatchCreated"
    PROGRESSED = "BatchProgressed"
    COMPLETED = "BatchCompleted"
    REOPENED = "BatchReopened"


class SagaEventType(StrEnum):
    """`eventType` of a saga's own events: events of its parent task (taskId is the saga
    id), published like every task event; routing key `task.saga_<name>`."""

    STARTED = "SagaStarted"
    STEP_RELEASED = "SagaStepReleased"
    COMPENSATING = "SagaCompensating"
    COMPLETED = "SagaCompleted"


# Every event type the outbox carries.
AnyEventType = EventType | BatchEventType | SagaEventType
ALL_EVENT_TYPES: tuple[AnyEventType, ...] = (*EventType, *BatchEventType, *SagaEventType)
