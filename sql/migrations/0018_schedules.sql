-- 0018: schedules (cron): a task started at every tick of a cron expression in a time zone.
--
-- The maintenance leader's schedule keeper (app/application/schedule_keeper.py) takes the due
-- rows (`NOT paused AND next_run_at <= now()`, FOR UPDATE SKIP LOCKED), computes their
-- ticks with croniter, inserts one task per tick and moves `next_run_at` on, in one
-- transaction. A tick's task has the id md5(id || ':' || tick in UTC, ISO 8601)::uuid
-- and the idempotency key 'schedule:' || the same text, so a tick inserts at most one
-- task even if two leaders ever overlap. See docs/design/schedules.md.

CREATE TABLE schedules (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    cron         text        NOT NULL CHECK (length(cron) BETWEEN 1 AND 200),
    timezone     text        NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    -- The task each tick starts (camelCase keys, as task_groups.on_complete).
    task         jsonb       NOT NULL CHECK (jsonb_typeof(task) = 'object' AND task ? 'type'),
    missed       text        NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip', 'runOnce')),
    paused       boolean     NOT NULL DEFAULT false,
    next_run_at  timestamptz NOT NULL,
    last_tick_at timestamptz,
    source       text        NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'code')),
    -- A code schedule no longer declared by the workers that run its task type: paused.
    retired_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    CONSTRAINT schedules_retired_code_paused
        CHECK (retired_at IS NULL OR (source = 'code' AND paused))
);

-- The keeper's scan: active schedules by their next tick.
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE NOT paused;

COMMENT ON TABLE schedules IS
    'Cron schedules: each tick of `cron` in `timezone` starts one task built from `task`; kept by the maintenance leader.';
COMMENT ON COLUMN schedules.missed IS
    'Ticks missed while nothing ran (older than the catch-up window): skip (no task), runOnce (one task for the newest).';
COMMENT ON COLUMN schedules.next_run_at IS
    'The next tick not yet started; the keeper moves it on in the transaction that inserts the ticks'' tasks.';
COMMENT ON COLUMN schedules.last_tick_at IS 'The newest tick that started a task.';
COMMENT ON COLUMN schedules.source IS
    'api (POST /api/v1/schedules) or code (HandlerRegistry.schedule, kept in sync as workers start).';
COMMENT ON COLUMN schedules.retired_at IS
    'When a code schedule stopped being declared (it was paused then); NULL while declared.';
