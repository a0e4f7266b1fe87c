-- 0015: Saga, ordered steps with compensation, on the dependency mechanism of 0013/0014.
--
-- A saga is a parent (`task_groups.kind = 'saga'`, the task's execution_type 'Saga'); its
-- steps are its children, chained by `task_dependencies` (step n+1 depends on step n):
-- every step but the first is inserted held (`Created`, `wait_reason = 'dependencies'`)
-- and released by task_dependencies_release in the transaction of its predecessor's
-- success. A step that dead-letters (or is cancelled) cancels the steps after it (the
-- same release, DependencyFailed); once every step has ended, `saga_advance` (called by
-- task_groups_settle for a saga, under its group's lock) either completes the saga or
-- turns it to compensation: it inserts the compensations of the steps that succeeded
-- (and of the failed step, if it ran and `compensate_failed_step`), newest step first,
-- as children chained the same way (`wait_reason = 'compensation'`), adds them to the
-- group's counts, and ends the saga when the last of them has ended.
-- See docs/design/dependencies.md ("Saga").

ALTER TABLE task_groups
    ADD COLUMN phase text CHECK (phase IN ('running', 'compensating', 'completed',
                                           'compensated', 'compensation_failed')),
    ADD COLUMN compensate_failed_step boolean,
    ADD COLUMN failed_step integer,
    ADD COLUMN failed_compensation integer;
COMMENT ON COLUMN task_groups.phase IS
    'A saga''s phase: running its steps, compensating, or how it ended; NULL for a batch.';
COMMENT ON COLUMN task_groups.failed_step IS
    'A saga''s step (0-based) that dead-lettered or was cancelled; NULL if none did.';
COMMENT ON COLUMN task_groups.failed_compensation IS
    'The step (0-based) whose compensation did not succeed; NULL if none failed.';

COMMENT ON COLUMN tasks.wait_reason IS
    'Why a Created task is held: children (a parent waiting for its children to end), dependencies (a step waiting for its predecessors), compensation (a saga''s compensation waiting for the one before it).';

CREATE TABLE saga_steps (
    saga_id              uuid    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position             integer NOT NULL CHECK (position >= 0),
    tenant_id            uuid    NOT NULL,
    name                 text,
    task_id              uuid    NOT NULL,
    -- The compensation's task spec (camelCase keys, as task_groups.on_complete); NULL: none.
    compensation         jsonb   CHECK (compensation IS NULL
                                        OR jsonb_typeof(compensation) = 'object'),
    compensation_task_id uuid,
    -- 0 for the compensation that runs first (the newest step's), 1 next, …
    compensation_order   integer,
    PRIMARY KEY (saga_id, position),
    UNIQUE (saga_id, name)
);
CREATE INDEX saga_steps_task_idx ON saga_steps (task_id);
COMMENT ON TABLE saga_steps IS
    'A saga''s steps in order: the step''s task, its compensation spec and, once compensation started, the compensation''s task.';

-- The results of a saga's steps that succeeded, keyed by position ("0", "1", …) and by
-- name: what `{"$fromStep": …}` references resolve against.
CREATE FUNCTION saga_results(saga uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(k, r), '{}')
      FROM (
        SELECT s.position::text AS k, res.r FROM saga_steps s
          JOIN LATERAL (
              SELECT a.content::jsonb AS r FROM task_artifacts a
               WHERE a.task_id = s.task_id AND a.kind = 'result' AND a.content IS NOT NULL
               ORDER BY a.created_at DESC LIMIT 1) res ON true
         WHERE s.saga_id = saga
        UNION ALL
        SELECT s.name, res.r FROM saga_steps s
          JOIN LATERAL (
              SELECT a.content::jsonb AS r FROM task_artifacts a
               WHERE a.task_id = s.task_id AND a.kind = 'result' AND a.content IS NOT NULL
               ORDER BY a.created_at DESC LIMIT 1) res ON true
         WHERE s.saga_id = saga AND s.name IS NOT NULL
      ) x
$$;

-- Replace every `{"$fromStep": <name or position>, "path": "a.b"}` in `v` by that step's
-- result (or the value at `path` in it; null when there is none).
CREATE FUNCTION saga_resolve(v jsonb, results jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    CASE jsonb_typeof(v)
    WHEN 'object' THEN
        IF v ? '$fromStep' THEN
            RETURN coalesce(results -> (v ->> '$fromStep')
                            #> coalesce(string_to_array(nullif(v ->> 'path', ''), '.'), '{}'),
                            'null');
        END IF;
        RETURN (SELECT coalesce(jsonb_object_agg(key, saga_resolve(value, results)), '{}')
                  FROM jsonb_each(v));
    WHEN 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(saga_resolve(e, results) ORDER BY i), '[]')
                  FROM jsonb_array_elements(v) WITH ORDINALITY AS x(e, i));
    ELSE
        RETURN v;
    END CASE;
END
$$;

-- End a saga: its status, metadata.outcome, its phase and the SagaCompleted event.
CREATE FUNCTION saga_finish(g task_groups, p tasks, done_status task_status, outcome text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_groups tg SET completed_at = now(), phase = outcome
     WHERE tg.parent_id = g.parent_id;
    UPDATE tasks t
       SET status = done_status, finished_at = now(), progress = 100,
           version = t.version + 1, updated_at = now(),
           metadata = t.metadata || jsonb_strip_nulls(jsonb_build_object(
               'outcome', outcome, 'failedStep', g.failed_step,
               'failedCompensationStep', g.failed_compensation))
     WHERE t.id = g.parent_id
    RETURNING * INTO p;
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                             attempt, detail)
    VALUES (p.id, p.tenant_id, p.version, 'SagaCompleted', p.status, p.trace_id,
            p.attempt_count,
            jsonb_strip_nulls(jsonb_build_object(
                'outcome', outcome, 'failedStep', g.failed_step,
                'failedCompensationStep', g.failed_compensation)));
END
$$;

-- Announce, on the saga's own timeline, a step or compensation just released.
CREATE FUNCTION saga_announce(p tasks, role text, step saga_steps, task uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks t SET version = t.version + 1, updated_at = now()
     WHERE t.id = p.id
    RETURNING * INTO p;
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                             attempt, detail)
    VALUES (p.id, p.tenant_id, p.version, 'SagaStepReleased', p.status, p.trace_id,
            p.attempt_count,
            jsonb_strip_nulls(jsonb_build_object('step', step.position, 'name', step.name,
                                                 'role', role, 'taskId', task)));
END
$$;

-- A saga's group changed (called by task_groups_settle under the group's and the saga's
-- row locks, in the transaction of the endings): announce the step (or compensation)
-- released, start compensating once every step has ended and one did not succeed (or a
-- cancel was asked), end the saga when its last compensation has ended.
CREATE FUNCTION saga_advance(g task_groups, p tasks) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    step saga_steps;
    failed_pos integer;
    failed_attempts integer;
    results jsonb;
    prev uuid;
    comp uuid;
    ord integer := 0;
    inserted tasks;
    stopped task_status;
BEGIN
    IF p.status <> 'Created' THEN
        RETURN;  -- ended already: nothing moves a saga on after its end
    END IF;
    stopped := CASE WHEN p.cancel_requested_at IS NOT NULL THEN 'Cancelled'
                    ELSE 'DeadLetter' END;

    IF g.phase = 'running' THEN
        IF g.remaining > 0 THEN
            IF p.cancel_requested_at IS NULL AND g.dead_lettered + g.cancelled = 0 THEN
                -- Step `succeeded` is the one just released: fill in its references.
                SELECT s.* INTO step
                  FROM saga_steps s JOIN tasks t ON t.id = s.task_id
                 WHERE s.saga_id = g.parent_id AND s.position = g.succeeded
                   AND t.status = 'Queued' AND t.attempt_count = 0;
                IF FOUND THEN
                    UPDATE tasks t
                       SET payload = saga_resolve(t.payload, saga_results(g.parent_id))
                     WHERE t.id = step.task_id AND t.payload::text LIKE '%$fromStep%';
                    PERFORM saga_announce(p, 'step', step, step.task_id);
                END IF;
            END IF;
            RETURN;
        END IF;
        IF g.succeeded = g.total AND p.cancel_requested_at IS NULL THEN
            PERFORM saga_finish(g, p, 'Succeeded', 'completed');
            RETURN;
        END IF;
        -- Compensate: the step that failed is the first that did not succeed.
        SELECT s.position, t.attempt_count INTO failed_pos, failed_attempts
          FROM saga_steps s JOIN tasks t ON t.id = s.task_id
         WHERE s.saga_id = g.parent_id AND t.status <> 'Succeeded'
         ORDER BY s.position
         LIMIT 1;
        results := saga_results(g.parent_id);
        FOR step IN
            SELECT s.*
              FROM saga_steps s JOIN tasks t ON t.id = s.task_id
             WHERE s.saga_id = g.parent_id AND s.compensation IS NOT NULL
               AND (t.status = 'Succeeded'
                    OR (g.compensate_failed_step AND s.position = failed_pos
                        AND failed_attempts > 0))
             ORDER BY s.position DESC
        LOOP
            -- Derived from (saga, step): a second start could not insert it twice.
            comp := md5(g.parent_id::text || '/compensation/' || step.position)::uuid;
            INSERT INTO tasks (id, tenant_id, parent_id, type, domain_type, capability_type,
                               priority, payload, max_attempts, timeout_seconds, retry_policy,
                               correlation_id, trace_id, status, wait_reason, deps_pending)
            SELECT comp, g.tenant_id, g.parent_id, c ->> 'type',
                   (c ->> 'domainType')::domain_type, (c ->> 'capabilityType')::capability_type,
                   coalesce((c ->> 'priority')::smallint, p.priority),
                   saga_resolve(coalesce(c -> 'payload', '{}'), results),
                   coalesce((c ->> 'maxAttempts')::integer, 3),
                   (c ->> 'timeoutSeconds')::integer, c -> 'retryPolicy',
                   p.correlation_id, p.trace_id,
                   CASE WHEN prev IS NULL THEN 'Queued' ELSE 'Created' END::task_status,
                   'compensation', CASE WHEN prev IS NOT NULL THEN 1 END
              FROM (SELECT step.compensation AS c) spec
            RETURNING * INTO inserted;
            IF prev IS NULL THEN
                INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status,
                                         trace_id, attempt, detail)
                VALUES (inserted.id, inserted.tenant_id, inserted.version, 'TaskQueued',
                        inserted.status, inserted.trace_id, inserted.attempt_count,
                        jsonb_build_object('scheduledAt', inserted.scheduled_at,
                                           'priority', inserted.priority));
            ELSE
                INSERT INTO task_dependencies (depends_on, task_id, tenant_id)
                VALUES (prev, comp, g.tenant_id);
            END IF;
            UPDATE saga_steps s SET compensation_task_id = comp, compensation_order = ord
             WHERE s.saga_id = g.parent_id AND s.position = step.position;
            prev := comp;
            ord := ord + 1;
        END LOOP;
        UPDATE task_groups tg
           SET total = tg.total + ord, remaining = tg.remaining + ord,
               phase = CASE WHEN ord > 0 THEN 'compensating' ELSE tg.phase END,
               failed_step = failed_pos
         WHERE tg.parent_id = g.parent_id
        RETURNING tg.* INTO g;
        IF ord = 0 THEN
            PERFORM saga_finish(g, p, stopped, 'compensated');  -- nothing to undo
            RETURN;
        END IF;
        UPDATE tasks t SET version = t.version + 1, updated_at = now()
         WHERE t.id = p.id
        RETURNING * INTO p;
        INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                 attempt, detail)
        VALUES (p.id, p.tenant_id, p.version, 'SagaCompensating', p.status, p.trace_id,
                p.attempt_count,
                jsonb_strip_nulls(jsonb_build_object(
                    'failedStep', failed_pos, 'compensations', ord,
                    'cause', CASE WHEN p.cancel_requested_at IS NOT NULL THEN 'cancelled'
                                  ELSE 'stepFailed' END)));
        SELECT s.* INTO step FROM saga_steps s
         WHERE s.saga_id = g.parent_id AND s.compensation_order = 0;
        PERFORM saga_announce(p, 'compensation', step, step.compensation_task_id);
        RETURN;
    END IF;

    IF g.phase = 'compensating' THEN
        IF g.remaining > 0 THEN
            -- The compensation just released (its predecessor succeeded).
            SELECT s.* INTO step
              FROM saga_steps s JOIN tasks t ON t.id = s.compensation_task_id
             WHERE s.saga_id = g.parent_id AND t.status = 'Queued' AND t.attempt_count = 0
               AND t.deps_pending = 0
             ORDER BY s.compensation_order
             LIMIT 1;
            IF FOUND THEN
                PERFORM saga_announce(p, 'compensation', step, step.compensation_task_id);
            END IF;
            RETURN;
        END IF;
        -- Every compensation ended: the first (in the order they ran) that did not succeed.
        SELECT s.position INTO failed_pos
          FROM saga_steps s JOIN tasks t ON t.id = s.compensation_task_id
         WHERE s.saga_id = g.parent_id AND t.status <> 'Succeeded'
         ORDER BY s.compensation_order
         LIMIT 1;
        UPDATE task_groups tg SET failed_compensation = failed_pos
         WHERE tg.parent_id = g.parent_id
        RETURNING tg.* INTO g;
        PERFORM saga_finish(g, p, stopped,
                            CASE WHEN failed_pos IS NULL THEN 'compensated'
                                 ELSE 'compensation_failed' END);
    END IF;
END
$$;
COMMENT ON FUNCTION saga_advance(task_groups, tasks) IS
    'Move a saga on after its children''s endings, in their transaction: announce a released step, start compensating, end the saga.';

-- A saga step's successor may now be a compensation: release both (0014's, widened).
CREATE OR REPLACE FUNCTION task_dependencies_release(changes jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    wave jsonb := changes;
    found_more jsonb;
BEGIN
    LOOP
        WITH ended AS (
            SELECT (c ->> 'task')::uuid AS id, (c ->> 'tenant')::uuid AS tenant,
                   c ->> 'status' AS status
              FROM jsonb_array_elements(wave) AS c
             WHERE (c ->> 'sign')::integer = 1 AND c ? 'task'
        ), hits AS (
            SELECT d.task_id, count(*) AS n, bool_or(e.status <> 'Succeeded') AS failed
              FROM task_dependencies d
              JOIN ended e ON d.depends_on = e.id AND d.tenant_id = e.tenant
             GROUP BY d.task_id
        ), locked AS (
            -- Successors in id order: the order every path locks them in.
            SELECT t.id, h.n, h.failed
              FROM tasks t
              JOIN hits h ON h.task_id = t.id
             WHERE t.status = 'Created' AND t.wait_reason IN ('dependencies', 'compensation')
             ORDER BY t.id
               FOR UPDATE OF t
        ), moved AS (
            UPDATE tasks t
               SET deps_pending = t.deps_pending - l.n,
                   status = CASE WHEN l.failed THEN 'Cancelled'::task_status
                                 WHEN t.deps_pending - l.n = 0 THEN 'Queued'::task_status
                                 ELSE t.status END,
                   finished_at = CASE WHEN l.failed THEN now() END,
                   cancel_requested_at = CASE WHEN l.failed THEN now() END,
                   last_error = CASE WHEN l.failed THEN 'a task it depends on did not succeed' END,
                   scheduled_at = CASE WHEN NOT l.failed AND t.deps_pending - l.n = 0
                                       THEN greatest(t.scheduled_at, now())
                                       ELSE t.scheduled_at END,
                   updated_at = now()
              FROM locked l
             WHERE t.id = l.id
            RETURNING t.id, t.tenant_id, t.parent_id, t.status, t.version, t.trace_id,
                      t.attempt_count, t.scheduled_at, t.priority
        ), events AS (
            -- A held task published nothing yet: its first event has sequence 1 (its version).
            INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id,
                                     attempt, detail)
            SELECT id, tenant_id, version,
                   CASE status WHEN 'Queued' THEN 'TaskQueued' ELSE 'TaskCancelled' END,
                   status, trace_id, attempt_count,
                   CASE status WHEN 'Queued'
                        THEN jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
                        ELSE jsonb_build_object('errorCode', 'DependencyFailed') END
              FROM moved
             WHERE status IN ('Queued', 'Cancelled')
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'task', id, 'parent', parent_id, 'tenant', tenant_id, 'status', 'Cancelled',
                   'sign', 1)), '[]')
          INTO found_more
          FROM moved
         WHERE status = 'Cancelled' AND parent_id IS NOT NULL;
        EXIT WHEN found_more = '[]'::jsonb;
        changes := changes || found_more;
        wave := found_more;  -- their successors are cancelled in turn
    END LOOP;
    RETURN changes;
END
$$;

-- 0013's settle, with the saga branch (after the parent's row lock).
CREATE OR REPLACE FUNCTION task_groups_settle(changes jsonb)
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

        -- A saga moves through its steps and compensations (saga_advance, below).
        IF g.kind = 'saga' THEN
            PERFORM saga_advance(g, p);
            CONTINUE;
        END IF;

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

-- What a DBA asks of held tasks, now with sagas: a saga's step or compensation says
-- which step it waits on; a saga says its phase and where it is.
CREATE OR REPLACE VIEW held_tasks AS
SELECT t.id,
       t.tenant_id,
       t.type,
       t.execution_type,
       t.wait_reason,
       CASE
            WHEN g.kind = 'saga' AND g.phase = 'compensating'
                 THEN format('compensating: %s of %s tasks still to end', g.remaining, g.total)
            WHEN g.kind = 'saga'
                 THEN format('step %s of %s running', g.succeeded + 1, g.total)
            WHEN s.saga_id IS NOT NULL AND t.wait_reason = 'dependencies'
                 THEN format('saga %s: step %s to succeed', s.saga_id, s.position - 1)
            WHEN c.saga_id IS NOT NULL
                 THEN format('saga %s: the compensation before it to succeed', c.saga_id)
            WHEN t.wait_reason = 'children'
                 THEN format('%s of %s children still to end', g.remaining, g.total)
            WHEN t.wait_reason = 'dependencies'
                 THEN format('%s tasks it depends on still to end', t.deps_pending)
            ELSE t.wait_reason END                        AS waiting_for,
       g.remaining,
       g.total,
       t.cancel_requested_at IS NOT NULL                  AS cancel_requested,
       now() - t.created_at                               AS held_for
  FROM tasks t
  LEFT JOIN task_groups g ON g.parent_id = t.id
  LEFT JOIN saga_steps s ON s.task_id = t.id AND t.wait_reason = 'dependencies'
  LEFT JOIN saga_steps c ON c.compensation_task_id = t.id AND t.wait_reason = 'compensation'
 WHERE t.status = 'Created';

CREATE VIEW saga_progress AS
SELECT g.parent_id AS saga_id,
       g.tenant_id,
       t.status,
       g.phase,
       (SELECT count(*) FROM saga_steps s WHERE s.saga_id = g.parent_id) AS steps,
       g.succeeded AS ended_succeeded,
       g.remaining,
       g.failed_step,
       g.failed_compensation,
       t.cancel_requested_at IS NOT NULL AS cancel_requested,
       g.created_at,
       g.completed_at
  FROM task_groups g
  JOIN tasks t ON t.id = g.parent_id
 WHERE g.kind = 'saga';
COMMENT ON VIEW saga_progress IS
    'Each saga: its status and phase (running, compensating, completed, compensated, compensation_failed), the step that failed and the compensation that failed.';

CREATE VIEW saga_step_status AS
SELECT s.saga_id,
       s.tenant_id,
       s.position,
       s.name,
       s.task_id,
       st.type     AS step_type,
       st.status   AS step_status,
       st.wait_reason AS step_wait_reason,
       s.compensation_task_id,
       ct.status   AS compensation_status,
       s.compensation_order
  FROM saga_steps s
  JOIN tasks st ON st.id = s.task_id
  LEFT JOIN tasks ct ON ct.id = s.compensation_task_id;
COMMENT ON VIEW saga_step_status IS
    'Each step of each saga: its task and status, and its compensation''s task and status once compensation started.';
