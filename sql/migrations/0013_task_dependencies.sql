-- 0013: tasks that wait on other tasks (Batch now; Saga and dependsOn build on it).
--
-- One mechanism (docs/design/dependencies.md):
-- * A parent (a batch, later a saga) is a row of `tasks` that waits in `Created` with
--   `wait_reason = 'children'`; `Created` is not claimable, so the claim index holds no
--   parent and no held task. Its children point at it with `parent_id`.
-- * Its counters live in `task_groups`, one row per parent: the row every ending child
--   updates. `task_groups_settle` applies the endings (and reopenings) of children in
--   the transaction of the statement that ended them, under the row lock of the group:
--   the transaction that brings `remaining` to 0 is the one that completes the parent,
--   and only one can. Every path that ends a task feeds it: a worker's finish, a cancel,
--   the rescue of an expired lease, a requeue (which reopens).
-- * Tasks with no parent pay nothing: `parent_id` is NULL, and nothing is done for them.

ALTER TABLE tasks ADD COLUMN parent_id uuid;
ALTER TABLE tasks ADD COLUMN wait_reason text
    CHECK (wait_reason IN ('children', 'dependencies', 'decision', 'input', 'signal',
                           'compensation'));
COMMENT ON COLUMN tasks.parent_id IS
    'The batch (or saga) this task is a child of; NULL for a task of its own.';
COMMENT ON COLUMN tasks.wait_reason IS
    'Why a Created task is held: children (a parent waiting for its children to end), dependencies (a step waiting for its predecessors).';

-- A parent's children, in the order they were given (ids are UUIDv7, time-ordered):
-- for paging, failFast and cancel. Only children are in it.
CREATE INDEX tasks_parent_idx ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;

-- The events of a batch (BatchProgressed, BatchCompleted, …) are events of its parent task.
ALTER TABLE task_events DROP CONSTRAINT task_events_event_type_check;
ALTER TABLE task_events ADD CONSTRAINT task_events_event_type_check
    CHECK (event_type ~ '^(Task|Batch|Saga)[A-Z][A-Za-z]+$') NOT VALID;
ALTER TABLE task_events VALIDATE CONSTRAINT task_events_event_type_check;

-- A parent ends when its last child does (Created -> Succeeded | DeadLetter | Cancelled),
-- and a requeued dead child reopens it (DeadLetter -> Created).
INSERT INTO task_status_transitions (from_status, to_status) VALUES
    ('Created', 'Succeeded'), ('Created', 'DeadLetter'), ('DeadLetter', 'Created');

CREATE TABLE task_groups (
    parent_id        uuid        PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    tenant_id        uuid        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('batch', 'saga')),
    failure_policy   text        NOT NULL DEFAULT 'continue'
                                 CHECK (failure_policy IN ('continue', 'failFast')),
    total            integer     NOT NULL CHECK (total >= 0),
    remaining        integer     NOT NULL,
    succeeded        integer     NOT NULL DEFAULT 0,
    dead_lettered    integer     NOT NULL DEFAULT 0,
    cancelled        integer     NOT NULL DEFAULT 0,
    -- Bumped when a requeued child reopens a completed group: one callback per generation.
    generation       integer     NOT NULL DEFAULT 1,
    -- The task spec of the callback queued when the group completes (NULL: none).
    on_complete      jsonb       CHECK (on_complete IS NULL OR jsonb_typeof(on_complete) = 'object'),
    callback_task_id uuid,
    progressed_at    timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT task_groups_counts_add_up CHECK (
        remaining >= 0 AND succeeded >= 0 AND dead_lettered >= 0 AND cancelled >= 0
        AND remaining + succeeded + dead_lettered + cancelled = total
    )
) WITH (fillfactor = 50);  -- updated once per finishing statement: room for HOT updates

COMMENT ON TABLE task_groups IS
    'One row per parent task (batch, saga): its children''s counts, updated in the transaction that ends each child.';
COMMENT ON COLUMN task_groups.remaining IS 'Children not ended yet; the parent completes when it reaches 0.';

-- Apply children's endings to their groups, in the caller's transaction. `changes` is a
-- JSON array of {"parent", "tenant", "status", "sign"}: sign 1 for a child that just
-- ended in `status` (Succeeded, DeadLetter, Cancelled), -1 for one that left `status`
-- again (a requeued DeadLetter). Groups are locked in id order, so two finishing workers
-- never deadlock on them, and the one whose update brings `remaining` to 0 completes the
-- parent: exactly once. Returns the groups it completed.
CREATE FUNCTION task_groups_settle(changes jsonb)
RETURNS TABLE (parent_id uuid, parent_status task_status, callback_task_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    d record;
    g task_groups;
    p tasks;
    n integer;
    done_status task_status;
    callback uuid;
BEGIN
    -- One delta per parent, parents in id order: the order every caller locks them in.
    FOR d IN
        SELECT (c ->> 'parent')::uuid AS parent, (c ->> 'tenant')::uuid AS tenant,
               sum((c ->> 'sign')::integer) AS ended,
               coalesce(sum((c ->> 'sign')::integer)
                        FILTER (WHERE c ->> 'status' = 'Succeeded'), 0) AS succeeded,
               coalesce(sum((c ->> 'sign')::integer)
                        FILTER (WHERE c ->> 'status' = 'DeadLetter'), 0) AS dead_lettered,
               coalesce(sum((c ->> 'sign')::integer)
                        FILTER (WHERE c ->> 'status' = 'Cancelled'), 0) AS cancelled
          FROM jsonb_array_elements(changes) AS c
         GROUP BY 1, 2
         ORDER BY 1
    LOOP
        UPDATE task_groups tg
           SET remaining = tg.remaining - d.ended,
               succeeded = tg.succeeded + d.succeeded,
               dead_lettered = tg.dead_lettered + d.dead_lettered,
               cancelled = tg.cancelled + d.cancelled
         WHERE tg.parent_id = d.parent AND tg.tenant_id = d.tenant
        RETURNING tg.* INTO g;
        IF NOT FOUND THEN
            CONTINUE;  -- a parent pruned meanwhile
        END IF;

        SELECT * INTO p FROM tasks t WHERE t.id = g.parent_id FOR UPDATE;

        -- failFast: once a child is dead-lettered, the children still waiting are
        -- cancelled (running ones finish; they were already paid for).
        IF g.failure_policy = 'failFast' AND g.dead_lettered > 0 AND g.remaining > 0 THEN
            WITH doomed AS (
                SELECT t.id
                  FROM tasks t
                 WHERE t.parent_id = g.parent_id
                   AND t.tenant_id = g.tenant_id
                   AND t.status IN ('Created', 'Queued', 'Failed')
                   FOR UPDATE SKIP LOCKED
            ), cancelled AS (
                UPDATE tasks t
                   SET status = 'Cancelled', finished_at = now(), cancel_requested_at = now(),
                       last_error = 'batch failFast: a sibling was dead-lettered',
                       version = t.version + 1, updated_at = now()
                  FROM doomed
                 WHERE t.id = doomed.id
                RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.attempt_count
            ), events AS (
                INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status,
                                         trace_id, attempt, detail)
                SELECT id, tenant_id, version, 'TaskCancelled', 'Cancelled', trace_id,
                       attempt_count, jsonb_build_object('errorCode', 'BatchFailFast')
                  FROM cancelled
            )
            SELECT count(*) INTO n FROM cancelled;
            IF n > 0 THEN
                UPDATE task_groups tg
                   SET remaining = tg.remaining - n, cancelled = tg.cancelled + n
                 WHERE tg.parent_id = g.parent_id
                RETURNING tg.* INTO g;
            END IF;
        END IF;

        IF g.remaining > 0 AND p.status = 'DeadLetter' THEN
            -- A requeued child reopened a completed group: a new generation.
            UPDATE task_groups tg
               SET generation = tg.generation + 1, completed_at = NULL
             WHERE tg.parent_id = g.parent_id
            RETURNING tg.* INTO g;
            UPDATE tasks t
               SET status = 'Created', finished_at = NULL, version = t.version + 1,
                   updated_at = now()
             WHERE t.id = g.parent_id
            RETURNING * INTO p;
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            VALUES (p.id, p.tenant_id, p.version, 'BatchReopened', p.status, p.trace_id,
                    p.attempt_count,
                    jsonb_build_object('generation', g.generation, 'total', g.total,
                                       'done', g.total - g.remaining));
        ELSIF g.remaining = 0 AND p.status = 'Created' THEN
            done_status := CASE WHEN p.cancel_requested_at IS NOT NULL THEN 'Cancelled'
                                WHEN g.dead_lettered > 0 THEN 'DeadLetter'
                                ELSE 'Succeeded' END;
            callback := NULL;
            IF g.on_complete IS NOT NULL AND done_status <> 'Cancelled' THEN
                -- Its id is derived from (batch, generation): a second completion of one
                -- generation could not queue a second callback even if it happened.
                callback := md5(g.parent_id::text || '/callback/' || g.generation)::uuid;
                WITH spec AS (
                    SELECT g.on_complete AS s
                ), inserted AS (
                    INSERT INTO tasks (id, tenant_id, type, domain_type, capability_type,
                                       priority, payload, max_attempts, timeout_seconds,
                                       retry_policy, correlation_id, trace_id)
                    SELECT callback, g.tenant_id, s ->> 'type',
                           (s ->> 'domainType')::domain_type,
                           (s ->> 'capabilityType')::capability_type,
                           coalesce((s ->> 'priority')::smallint, p.priority),
                           coalesce(s -> 'payload', '{}') || jsonb_build_object(
                               'batch', jsonb_build_object(
                                   'id', g.parent_id, 'generation', g.generation,
                                   'status', done_status, 'total', g.total,
                                   'succeeded', g.succeeded, 'deadLettered', g.dead_lettered,
                                   'cancelled', g.cancelled,
                                   'children', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                        'id', c.id, 'status', c.status,
                                                        'result', CASE WHEN c.status = 'Succeeded'
                                                            THEN '/api/v1/tasks/' || c.id || '/result' END)
                                                        ORDER BY c.id), '[]')
                                                  FROM tasks c
                                                 WHERE c.parent_id = g.parent_id
                                                   AND c.tenant_id = g.tenant_id))),
                           coalesce((s ->> 'maxAttempts')::integer, 3),
                           (s ->> 'timeoutSeconds')::integer,
                           s -> 'retryPolicy', p.correlation_id, p.trace_id
                      FROM spec
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id, tenant_id, version, status, trace_id, scheduled_at, priority,
                              attempt_count
                )
                INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status,
                                         trace_id, attempt, detail)
                SELECT id, tenant_id, version, 'TaskQueued', status, trace_id, attempt_count,
                       jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
                  FROM inserted;
            END IF;
            UPDATE task_groups tg
               SET completed_at = now(), callback_task_id = coalesce(callback, tg.callback_task_id)
             WHERE tg.parent_id = g.parent_id
            RETURNING tg.* INTO g;
            UPDATE tasks t
               SET status = done_status, finished_at = now(), progress = 100,
                   version = t.version + 1, updated_at = now(),
                   metadata = t.metadata || jsonb_build_object(
                       'outcome', CASE WHEN done_status = 'Succeeded' THEN 'completed'
                                       WHEN done_status = 'Cancelled' THEN 'cancelled'
                                       ELSE 'partial' END)
             WHERE t.id = g.parent_id
            RETURNING * INTO p;
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            VALUES (p.id, p.tenant_id, p.version, 'BatchCompleted', p.status, p.trace_id,
                    p.attempt_count,
                    jsonb_strip_nulls(jsonb_build_object(
                        'generation', g.generation, 'total', g.total,
                        'succeeded', g.succeeded, 'deadLettered', g.dead_lettered,
                        'cancelled', g.cancelled, 'callbackTaskId', callback)));
            parent_id := p.id;
            parent_status := p.status;
            callback_task_id := callback;
            RETURN NEXT;
        ELSIF g.remaining > 0 AND p.status = 'Created'
              AND (g.progressed_at IS NULL OR g.progressed_at < now() - interval '1 second') THEN
            -- Progress at a bounded rate: at most one event a second per batch.
            UPDATE task_groups tg SET progressed_at = now() WHERE tg.parent_id = g.parent_id;
            UPDATE tasks t
               SET version = t.version + 1, updated_at = now(),
                   progress = (100 * (g.total - g.remaining) / greatest(g.total, 1))::smallint
             WHERE t.id = g.parent_id
            RETURNING * INTO p;
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            VALUES (p.id, p.tenant_id, p.version, 'BatchProgressed', p.status, p.trace_id,
                    p.attempt_count,
                    jsonb_build_object('total', g.total, 'done', g.total - g.remaining,
                                       'succeeded', g.succeeded, 'deadLettered', g.dead_lettered,
                                       'cancelled', g.cancelled));
        END IF;
    END LOOP;
    RETURN;
END
$$;
COMMENT ON FUNCTION task_groups_settle(jsonb) IS
    'Apply children''s endings (sign 1) and reopenings (sign -1) to their parents, in the caller''s transaction; completes a parent when its last child ends. Called by every statement path that ends a child (sql/queries/dependencies.sql).';

-- What a DBA asks: which tasks are held, why, and what they wait for.
CREATE VIEW held_tasks AS
SELECT t.id,
       t.tenant_id,
       t.type,
       t.execution_type,
       t.wait_reason,
       CASE t.wait_reason
            WHEN 'children' THEN format('%s of %s children still to end', g.remaining, g.total)
            ELSE t.wait_reason END                        AS waiting_for,
       g.remaining,
       g.total,
       t.cancel_requested_at IS NOT NULL                  AS cancel_requested,
       now() - t.created_at                               AS held_for
  FROM tasks t
  LEFT JOIN task_groups g ON g.parent_id = t.id
 WHERE t.status = 'Created';
COMMENT ON VIEW held_tasks IS
    'Tasks held in Created (not claimable), why (wait_reason) and what they wait for.';

CREATE VIEW batch_progress AS
SELECT g.parent_id AS batch_id,
       g.tenant_id,
       t.status,
       g.failure_policy,
       g.total,
       g.total - g.remaining AS done,
       g.remaining,
       g.succeeded,
       g.dead_lettered,
       g.cancelled,
       g.generation,
       g.callback_task_id,
       g.created_at,
       g.completed_at
  FROM task_groups g
  JOIN tasks t ON t.id = g.parent_id
 WHERE g.kind = 'batch';
COMMENT ON VIEW batch_progress IS
    'Each batch: its status, how many children ended and how, its generation and callback task.';
