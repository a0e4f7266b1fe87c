-- 0004: the engine's hot path, made cheaper (each change measured by `make bench`).
--
-- 1. An attempt row is written once, when the attempt ends, instead of inserted at
--    claim and updated at the end: the running attempt lives on its task row
--    (attempt_id, locked_by, attempt_started_at), and `task_attempts_current`
--    shows ended and running attempts together.
-- 2. task_events and task_attempts lose their foreign keys to tasks: rows of both
--    are only written by the statements that change their task, and pruning deletes
--    them with it. A per-row key check cost more than the row itself.
-- 3. The publish trigger writes the outbox with one static INSERT and no longer
--    sends a NOTIFY per tenant (see below).

ALTER TABLE tasks ADD COLUMN attempt_started_at timestamptz;
COMMENT ON COLUMN tasks.attempt_started_at IS 'When the current (or latest) attempt started.';

-- Running attempts of a live queue move onto their task rows; their ended rows are
-- written when they end, as for new ones.
UPDATE tasks t
   SET attempt_started_at = a.started_at
  FROM task_attempts a
 WHERE a.id = t.attempt_id;
DELETE FROM task_attempts WHERE status = 'Running';

ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_task_id_fkey;
ALTER TABLE task_events DROP CONSTRAINT task_events_task_id_fkey;

COMMENT ON TABLE task_attempts IS
    'Each ended execution of a task, with its cost: model, tokens, cost, latency. The running attempt is on the task row; task_attempts_current shows both.';

CREATE VIEW task_attempts_current AS
SELECT id, task_id, attempt_no, worker_id, status, started_at, ended_at, model, tokens_in,
       tokens_out, cost, latency_ms, error_code, error_detail
  FROM task_attempts
UNION ALL
SELECT attempt_id, id, attempt_count, locked_by, 'Running'::attempt_status, attempt_started_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM tasks
 WHERE attempt_id IS NOT NULL;
COMMENT ON VIEW task_attempts_current IS 'Ended attempts and the ones running now.';

-- 3. The outbox rows are written by one static INSERT into PGMQ's queue table, with
--    the columns pgmq.send_batch writes: send_batch builds and plans dynamic SQL on
--    every call, which cost more than the rows themselves. There is no per-tenant
--    NOTIFY any more: every NOTIFY takes a cluster-wide lock at commit and wakes every
--    listening backend; the API's live streams poll task_events by id instead.
--    Workers are still woken by NOTIFY, only for work that is due now, and cancel
--    requests still reach the worker running the task at once.
CREATE OR REPLACE FUNCTION task_events_publish() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Each event's task row by its key (LATERAL): a plan cached from a big first batch
    -- must not become a hash join over the whole table.
    INSERT INTO pgmq.q_outbox (vt, message)
    SELECT clock_timestamp(),
           jsonb_build_object(
               -- Stable across re-deliveries: derived from (task, sequence).
               'eventId', md5(e.task_id::text || '/' || e.sequence)::uuid,
               'eventType', e.event_type,
               'occurredAt', e.occurred_at,
               'tenantId', e.tenant_id,
               'taskId', e.task_id,
               'sequence', e.sequence,
               'traceId', e.trace_id,
               'status', e.status,
               'type', t.type,
               'attempt', t.attempt_count,
               'correlationId', t.correlation_id
           ) || (e.detail - 'error')
      FROM new_events e
     CROSS JOIN LATERAL (SELECT type, attempt_count, correlation_id
                           FROM tasks
                          WHERE id = e.task_id) AS t
     ORDER BY e.id;
    -- Wake workers only for work that is due now; later work is woken by its own timer
    -- (the worker that scheduled a retry, and the maintenance leader's due check).
    IF EXISTS (SELECT 1
                 FROM new_events e
                WHERE e.status IN ('Queued', 'Failed')
                  AND (SELECT scheduled_at FROM tasks WHERE id = e.task_id) <= now()) THEN
        PERFORM pg_notify('assistente_tasks', '');
    END IF;
    PERFORM pg_notify('assistente_cancel', e.task_id::text)
       FROM new_events e
      WHERE e.event_type = 'TaskCancelRequested';
    RETURN NULL;
END
$$;
