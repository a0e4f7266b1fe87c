-- 0012: the task types (and capabilities) workers have handlers for.
--
-- Handlers live in the workers (`assistente worker --app module`), not in the API. A
-- task whose type has no handler of its own but names a capabilityType runs the
-- built-in handler of that capability, which checks its payload only once a worker
-- picks it up: a wrong payload was accepted with 202 and then dead-lettered. Each
-- worker now records, as it starts, the task types it registered and the capabilities
-- whose built-in handler it replaced; the API checks a payload against the built-in
-- capability's schema at POST only when no worker has recorded the task's type (nor
-- replaced its capability), and answers 422 naming the field.
--
-- Rows are kept when workers stop: a type handled once is a type with a handler of
-- its own, and the API stays lenient about it. Delete the row of a handler you retire.

CREATE TABLE task_handlers (
    kind          text        NOT NULL CHECK (kind IN ('type', 'capability')),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    worker_id     text        NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);

COMMENT ON TABLE task_handlers IS
    'Task types (kind ''type'') and capabilities whose built-in handler was replaced (kind ''capability'') that some worker registered; the API checks capability payloads at POST only for types not listed here.';
COMMENT ON COLUMN task_handlers.worker_id IS 'The worker that last registered it.';
COMMENT ON COLUMN task_handlers.registered_at IS 'When a worker last started with it.';
