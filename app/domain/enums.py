"""Value objects from the user's design notes (seed 000, section 9).

Values are spelled exactly as in the seeds; the database enums use the same
spelling, so a value read from a row is a valid member here and vice versa.
"""

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its life. See `app.domain.task` for the transitions."""

    CREATED = "Created"
    QUEUED = "Queued"
    RESERVED = "Reserved"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    DEAD_LETTER = "DeadLetter"


class DomainType(StrEnum):
    """The business area a task belongs to."""

    DOCUMENT_PROCESSING = "DocumentProcessing"
    CUSTOMER_SUPPORT = "CustomerSupport"
    COMPLIANCE_CHECK = "ComplianceCheck"
    CONTENT_CREATION = "ContentCreation"
    DATA_ANALYSIS = "DataAnalysis"
    CODE_AUTOMATION = "CodeAutomation"
    DECISION_AUTOMATION = "DecisionAutomation"
    MONITORING_ALERT = "MonitoringAlert"


class CapabilityType(StrEnum):
    """The kind of AI (or non-AI) capability that does the work."""

    LLM_GENERATION = "LLM_Generation"
    LLM_CLASSIFICATION = "LLM_Classification"
    LLM_REASONING = "LLM_Reasoning"
    VISION_OCR = "Vision_OCR"
    VISION_OBJECT_DETECTION = "Vision_ObjectDetection"
    EMBEDDING_SEARCH = "Embedding_Search"
    RULE_ENGINE = "RuleEngine"
    EXTERNAL_INTEGRATION = "ExternalIntegration"


class ExecutionType(StrEnum):
    """How the caller expects the task to be carried out."""

    SYNC = "Sync"
    ASYNC = "Async"
    SAGA = "Saga"
    HUMAN_IN_LOOP = "HumanInLoop"
    BATCH = "Batch"
    EVENT_DRIVEN = "EventDriven"


class AttemptStatus(StrEnum):
    """How one execution of a task ended (a `task_attempts` row)."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"
    # The worker's lease ran out before it reported: it crashed, froze or lost its connection.
    LOST = "Lost"
    # Handed back unfinished on graceful shutdown; does not count as a failure.
    RELEASED = "Released"
