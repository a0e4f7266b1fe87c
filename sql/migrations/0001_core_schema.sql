-- 0001: the queue's core tables.
-- Names are snake_case of the user's names (seed 000); enum values are spelled as in the seeds.

CREATE TYPE task_status AS ENUM (
    'Created', 'Queued', 'Reserved', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'DeadLetter'
);
CREATE TYPE domain_type AS ENUM (
    'DocumentProcessing', 'CustomerSupport', 'ComplianceCheck', 'ContentCreation',
    'DataAnalysis', 'CodeAutomation', 'DecisionAutomation', 'MonitoringAlert'
);
CREATE TYPE capability_type AS ENUM (
    'LLM_Generation', 'LLM_Classification', 'LLM_Reasoning', 'Vision_OCR',
    'Vision_ObjectDetection', 'Embedding_Search', 'RuleEngine', 'ExternalIntegration'
);
CREATE TYPE execution_type AS ENUM (
    'Sync', 'Async', 'Saga', 'HumanInLoop', 'Batch', 'EventDriven'
);
CREATE TYPE attempt_status AS ENUM (
    'Running', 'Succeeded', 'Failed', 'TimedOut', 'Cancelled', 'Lost', 'Released'
);

-- Reference data for DBAs: what each status means and which moves are allowed.
-- A test keeps both equal to app/domain/task.py.
CREATE TABLE task_statuses (
    status      task_status PRIMARY KEY,
    meaning     text        NOT NULL,
    is_finished boolean     NOT NULL,
    holds_lease boolean     NOT NULL
);
INSERT INTO task_statuses (status, meaning, is_finished, holds_lease) VALUES
    ('Created',    'Accepted but not yet released to workers (part of a larger unit still being built).', false, false),
    ('Queued',     'Waiting for a worker; claimable once scheduled_at has come.', false, false),
    ('Reserved',   'Claimed by a worker (locked_by, locked_until) that has not started it yet.', false, true),
    ('Running',    'A worker is executing it under a lease it keeps extending.', false, true),
    ('Succeeded',  'Finished; the result is stored as an artifact.', true, false),
    ('Failed',     'The last attempt failed with a retryable error; the task waits for its retry at scheduled_at and is claimable again then.', false, false),
    ('Cancelled',  'Stopped on request before it finished; never runs again.', true, false),
    ('DeadLetter', 'Retries exhausted or a non-recoverable error; stays put until an operator requeues it.', true, false);

CREATE TABLE task_status_transitions (
    from_status task_status NOT NULL,
    to_status   task_status NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO task_status_transitions (from_status, to_status) VALUES
    ('Created', 'Queued'), ('Created', 'Cancelled'),
    ('Queued', 'Reserved'), ('Queued', 'Running'), ('Queued', 'Cancelled'),
    ('Reserved', 'Running'), ('Reserved', 'Queued'), ('Reserved', 'Failed'),
    ('Reserved', 'DeadLetter'), ('Reserved', 'Cancelled'),
    ('Running', 'Succeeded'), ('Running', 'Failed'), ('Running', 'DeadLetter'),
    ('Running', 'Cancelled'), ('Running', 'Queued'),
    ('Failed', 'Reserved'), ('Failed', 'Running'), ('Failed', 'Queued'),
    ('Failed', 'Cancelled'), ('Failed', 'DeadLetter'),
    ('DeadLetter', 'Queued');

CREATE TABLE tenants (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

-- API keys are random and long, so a plain SHA-256 is the right hash: no salt or
-- slow hash is needed, and lookup by hash stays one index probe per request.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL DEFAULT 'default',
    prefix       text        NOT NULL,
    key_hash     bytea       NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    is_admin     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE tasks (
    id               uuid            PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid            NOT NULL REFERENCES tenants (id),
    type             text            NOT NULL CHECK (type ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
    domain_type      domain_type,
    capability_type  capability_type,
    execution_type   execution_type  NOT NULL DEFAULT 'Async',
    priority         smallint        NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    status           task_status     NOT NULL DEFAULT 'Queued',
    payload          jsonb           NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    idempotency_key  text            CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- Fingerprint of the request that created the task: the same Idempotency-Key
    -- with a different body is refused instead of silently answered.
    request_hash     text,
    scheduled_at     timestamptz     NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    locked_by        text,
    -- The task_attempts row of the current lease holder: every worker write is
    -- guarded by it, so a worker whose lease was taken over cannot overwrite anything.
    attempt_id       bigint,
    max_attempts     integer         NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    attempt_count    integer         NOT NULL DEFAULT 0,
    last_error       text,
    progress         smallint        NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    state            text            CHECK (char_length(state) <= 200),
    metadata         jsonb           NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    timeout_seconds  integer         CHECK (timeout_seconds > 0),
    -- Per-task backoff ({"baseSeconds", "factor", "maxSeconds"}); null means the type's default.
    retry_policy     jsonb           CHECK (retry_policy IS NULL OR jsonb_typeof(retry_policy) = 'object'),
    cancel_requested_at timestamptz,
    correlation_id   text            CHECK (char_length(correlation_id) <= 200),
    trace_id         text            CHECK (char_length(trace_id) <= 64),
    -- Bumped on every state change; equals the sequence of the task's latest event.
    version          integer         NOT NULL DEFAULT 1,
    created_at       timestamptz     NOT NULL DEFAULT now(),
    updated_at       timestamptz     NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,

    CONSTRAINT tasks_attempts_within_limit CHECK (attempt_count BETWEEN 0 AND max_attempts),
    -- A leased task (Reserved, Running) has an owner, a deadline and an attempt; no other has.
    CONSTRAINT tasks_lease_matches_status CHECK (
        CASE WHEN status IN ('Reserved', 'Running')
             THEN locked_by IS NOT NULL AND locked_until IS NOT NULL AND attempt_id IS NOT NULL
             ELSE locked_by IS NULL AND locked_until IS NULL AND attempt_id IS NULL
        END
    ),
    -- finished_at is set exactly when the task has ended (or waits for an operator).
    CONSTRAINT tasks_finished_matches_status CHECK (
        (status IN ('Succeeded', 'Cancelled', 'DeadLetter')) = (finished_at IS NOT NULL)
    )
) WITH (
    fillfactor = 80,  -- room for HOT updates of progress and lease heartbeats
    -- A queue table churns: vacuum and analyze it often so dead versions of claimed
    -- rows leave the claim index quickly and the planner sees the backlog's real size.
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.02
);

-- Claiming due work: only Queued and Failed rows are in this index, so the claim
-- stays an index scan however many finished rows the table holds.
CREATE INDEX tasks_claim_idx ON tasks (priority, scheduled_at)
    WHERE status IN ('Queued', 'Failed');
-- Finding leases that ran out.
CREATE INDEX tasks_lease_expiry_idx ON tasks (locked_until)
    WHERE status IN ('Reserved', 'Running');
-- Idempotency-Key is unique per tenant.
CREATE UNIQUE INDEX tasks_idempotency_key_idx ON tasks (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- A tenant's task list, newest first, with a stable tie-break.
CREATE INDEX tasks_tenant_created_idx ON tasks (tenant_id, created_at DESC, id DESC);
-- Pruning finished tasks past their retention, oldest first.
CREATE INDEX tasks_finished_idx ON tasks (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE task_attempts (
    id           bigint         PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    task_id      uuid           NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt_no   integer        NOT NULL CHECK (attempt_no >= 1),
    worker_id    text           NOT NULL,
    status       attempt_status NOT NULL DEFAULT 'Running',
    started_at   timestamptz    NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    model        text,
    tokens_in    integer        CHECK (tokens_in >= 0),
    tokens_out   integer        CHECK (tokens_out >= 0),
    cost         numeric(14, 6) CHECK (cost >= 0),
    latency_ms   integer        CHECK (latency_ms >= 0),
    error_code   text,
    error_detail text,
    CONSTRAINT task_attempts_ended_matches_status CHECK ((status = 'Running') = (ended_at IS NULL))
);
CREATE INDEX task_attempts_task_idx ON task_attempts (task_id, id);

CREATE TABLE task_artifacts (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id      uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('result', 'text', 'json', 'file', 'link')),
    name         text        CHECK (char_length(name) <= 200),
    content_type text        NOT NULL DEFAULT 'application/json',
    content      text,
    uri          text,
    size_bytes   bigint      CHECK (size_bytes >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- An artifact is either stored inline or referenced, never both or neither.
    CONSTRAINT task_artifacts_content_or_uri CHECK ((content IS NULL) <> (uri IS NULL))
);
CREATE INDEX task_artifacts_task_idx ON task_artifacts (task_id, created_at);

-- The timeline shown to users; each row also goes to the outbox for integrations.
CREATE TABLE task_events (
    id          bigint      PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
    task_id     uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    tenant_id   uuid        NOT NULL,
    sequence    integer     NOT NULL CHECK (sequence >= 1),
    event_type  text        NOT NULL CHECK (event_type ~ '^Task[A-Z][A-Za-z]+$'),
    status      task_status NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    trace_id    text,
    detail      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    UNIQUE (task_id, sequence)
);
CREATE INDEX task_events_tenant_idx ON task_events (tenant_id, id);

COMMENT ON TABLE tasks IS 'One row per unit of AI work. Workers lease rows with FOR UPDATE SKIP LOCKED.';
COMMENT ON COLUMN tasks.priority IS '1..10, lower runs first; default 5.';
COMMENT ON COLUMN tasks.scheduled_at IS 'Not claimable before this time: delayed tasks and retry backoff.';
COMMENT ON COLUMN tasks.locked_until IS 'Lease deadline; past it the task is taken over by another worker.';
COMMENT ON COLUMN tasks.locked_by IS 'Worker id holding the lease.';
COMMENT ON COLUMN tasks.attempt_count IS 'Attempts started in the current cycle (reset by an operator requeue).';
COMMENT ON COLUMN tasks.cancel_requested_at IS 'Set when a cancel is asked for a running task; its worker stops it.';
COMMENT ON TABLE task_attempts IS 'Each execution of a task, with its cost: model, tokens, cost, latency.';
COMMENT ON TABLE task_events IS 'Per-task timeline; sequence orders events of one task.';
