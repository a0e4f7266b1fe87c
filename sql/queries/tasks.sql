-- name: task_enqueue_many
-- Insert tasks (ids chosen by the caller) with their TaskQueued events, returning them as stored; a task whose idempotency key its tenant already used is skipped. A task with a `wait` (an approval, or a signal to wait for) is inserted parked instead: Created, with its task_waits row and a TaskAwaitingInput / TaskAwaitingSignal event.
WITH input AS (
    -- One JSON array of records, not an array per column: far less for the client to encode.
    SELECT *
      FROM jsonb_to_recordset(%(tasks)s::jsonb)
           AS i(id uuid, tenant_id uuid, type text, domain_type domain_type,
                capability_type capability_type, execution_type execution_type,
                priority smallint, payload jsonb, idempotency_key text, request_hash text,
                scheduled_at timestamptz, max_attempts integer, timeout_seconds integer,
                retry_policy jsonb, correlation_id text, trace_id text, wait jsonb)
), inserted AS (
    INSERT INTO tasks (id, tenant_id, type, domain_type, capability_type, execution_type, priority,
                       payload, idempotency_key, request_hash, scheduled_at, max_attempts,
                       timeout_seconds, retry_policy, correlation_id, trace_id, status,
                       wait_reason)
    SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority,
           payload, idempotency_key, request_hash, coalesce(scheduled_at, now()), max_attempts,
           timeout_seconds, retry_policy, correlation_id, trace_id,
           CASE WHEN wait IS NULL THEN 'Queued' ELSE 'Created' END::task_status,
           CASE wait->>'kind' WHEN 'approval' THEN 'decision' WHEN 'signal' THEN 'signal' END
      FROM input
    ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, tenant_id, type, domain_type, capability_type, execution_type, priority, status,
              payload, idempotency_key, request_hash, scheduled_at, locked_until, locked_by,
              max_attempts, attempt_count, last_error, progress, state, metadata, timeout_seconds,
              cancel_requested_at, correlation_id, trace_id, version, created_at, updated_at,
              started_at, finished_at
), waits AS (
    INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, question, input_schema,
                            signal_name, signal_key, deadline_at, on_deadline)
    SELECT n.id, n.tenant_id, i.wait->>'kind', i.wait->>'wait_key', i.wait->>'question',
           i.wait->'schema', i.wait->>'signal_name', i.wait->>'signal_key',
           now() + make_interval(secs => (i.wait->>'deadline_seconds')::float8),
           i.wait->>'on_deadline'
      FROM inserted n
      JOIN input i ON i.id = n.id
     WHERE i.wait IS NOT NULL
    RETURNING task_id, kind, wait_key, question, signal_name, signal_key, deadline_at
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT n.id, n.tenant_id, n.version,
           CASE w.kind WHEN 'approval' THEN 'TaskAwaitingInput'
                       WHEN 'signal' THEN 'TaskAwaitingSignal'
                       ELSE 'TaskQueued' END,
           n.status, n.trace_id, n.attempt_count,
           CASE WHEN w.kind IS NULL
                THEN jsonb_build_object('scheduledAt', n.scheduled_at, 'priority', n.priority)
                ELSE jsonb_strip_nulls(jsonb_build_object(
                         'kind', w.kind, 'waitKey', w.wait_key, 'question', w.question,
                         'signal', w.signal_name, 'key', w.signal_key,
                         'deadline', w.deadline_at))
           END
      FROM inserted n
      LEFT JOIN waits w ON w.task_id = n.id
)
SELECT * FROM inserted;

-- name: task_get
-- One task of one tenant.
SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority, status,
       payload, idempotency_key, request_hash, scheduled_at, locked_until, locked_by,
       max_attempts, attempt_count, last_error, progress, state, metadata, timeout_seconds,
       cancel_requested_at, correlation_id, trace_id, version, created_at, updated_at,
       started_at, finished_at
  FROM tasks
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s;

-- name: task_get_by_idempotency_keys
-- The tasks a tenant already created under these idempotency keys.
SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority, status,
       payload, idempotency_key, request_hash, scheduled_at, locked_until, locked_by,
       max_attempts, attempt_count, last_error, progress, state, metadata, timeout_seconds,
       cancel_requested_at, correlation_id, trace_id, version, created_at, updated_at,
       started_at, finished_at
  FROM tasks
 WHERE tenant_id = %(tenant_id)s AND idempotency_key = ANY(%(keys)s::text[]);

-- name: task_cancel
-- Cancel a waiting task at once, or ask the worker running it to stop; finished tasks are left alone. A parent waiting for its children is only marked: it ends, Cancelled, when its last child does (task_groups_settle).
WITH updated AS (
    UPDATE tasks t
       SET status = CASE WHEN t.status IN ('Created', 'Queued', 'Failed')
                              AND t.wait_reason IS DISTINCT FROM 'children'
                         THEN 'Cancelled'::task_status ELSE t.status END,
           finished_at = CASE WHEN t.status IN ('Created', 'Queued', 'Failed')
                                   AND t.wait_reason IS DISTINCT FROM 'children'
                              THEN now() END,
           cancel_requested_at = now(),
           version = t.version + 1,
           updated_at = now()
     WHERE t.id = %(id)s
       AND t.tenant_id = %(tenant_id)s
       AND t.status IN ('Created', 'Queued', 'Failed', 'Reserved', 'Running')
       AND t.cancel_requested_at IS NULL
    RETURNING t.id, t.tenant_id, t.version, t.status, t.trace_id, t.attempt_count, t.parent_id
), waits AS (
    -- A parked task cancelled waits no more (a decision on it is then a 409).
    DELETE FROM task_waits w USING updated u WHERE w.task_id = u.id AND u.status = 'Cancelled'
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt)
    SELECT id, tenant_id, version,
           CASE WHEN status = 'Cancelled' THEN 'TaskCancelled' ELSE 'TaskCancelRequested' END,
           status, trace_id, attempt_count
      FROM updated
)
SELECT id, status, parent_id, tenant_id FROM updated;

-- name: task_attempt_list
-- A task's attempts, oldest first, the running one included.
SELECT id, task_id, attempt_no, worker_id, status, started_at, ended_at, model, tokens_in,
       tokens_out, cost, latency_ms, error_code, error_detail
  FROM task_attempts_current
 WHERE task_id = %(task_id)s
 ORDER BY id;

-- name: task_event_list
-- A task's timeline, in order.
SELECT id, task_id, tenant_id, sequence, event_type, status, occurred_at, trace_id, detail
  FROM task_events
 WHERE task_id = %(task_id)s
 ORDER BY sequence;

-- name: task_artifact_list
-- A task's outputs, oldest first.
SELECT id, task_id, kind, name, content_type, content, uri, size_bytes, created_at
  FROM task_artifacts
 WHERE task_id = %(task_id)s
 ORDER BY created_at, id;

-- name: task_list
-- One page of a tenant's tasks, newest first, with the total matching count.
SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority, status,
       payload, idempotency_key, request_hash, scheduled_at, locked_until, locked_by,
       max_attempts, attempt_count, last_error, progress, state, metadata, timeout_seconds,
       cancel_requested_at, correlation_id, trace_id, version, created_at, updated_at,
       started_at, finished_at, count(*) OVER () AS total
  FROM tasks
 WHERE tenant_id = %(tenant_id)s
   AND (%(status)s::task_status IS NULL OR status = %(status)s::task_status)
   AND (%(type)s::text IS NULL OR type = %(type)s::text)
   AND (%(domain_type)s::domain_type IS NULL OR domain_type = %(domain_type)s::domain_type)
   AND (%(capability_type)s::capability_type IS NULL
        OR capability_type = %(capability_type)s::capability_type)
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s OFFSET %(offset)s;

-- name: task_count
-- How many of a tenant's tasks match the filters (for a page past the end).
SELECT count(*)
  FROM tasks
 WHERE tenant_id = %(tenant_id)s
   AND (%(status)s::task_status IS NULL OR status = %(status)s::task_status)
   AND (%(type)s::text IS NULL OR type = %(type)s::text)
   AND (%(domain_type)s::domain_type IS NULL OR domain_type = %(domain_type)s::domain_type)
   AND (%(capability_type)s::capability_type IS NULL
        OR capability_type = %(capability_type)s::capability_type);

-- name: task_requeue
-- Put a dead-lettered or failed task back in the queue now with fresh attempts: as many as it was given, numbered on from its last one (attempt_count is not reset, so attempt numbers stay unique), with progress and state cleared. A parent (batch) is not requeued: requeue its dead children, which reopens it; a saga's dead step is not requeued either. Returns the status the task left.
WITH before AS (
    SELECT id, status
      FROM tasks
     WHERE id = %(id)s
       AND tenant_id = %(tenant_id)s
       FOR UPDATE
), requeued AS (
    UPDATE tasks t
       SET status = 'Queued',
           -- The attempts it was given: its limit less the attempts it had already used
           -- when it was last requeued (the `attempt` of that TaskRequeued event; none: 0).
           max_attempts = t.attempt_count + t.max_attempts
                          - coalesce((SELECT e.attempt
                                        FROM task_events e
                                       WHERE e.task_id = t.id
                                         AND e.event_type = 'TaskRequeued'
                                       ORDER BY e.sequence DESC
                                       LIMIT 1), 0),
           -- A fresh start: nothing of the last attempt's progress or state applies.
           progress = 0,
           state = NULL,
           scheduled_at = now(),
           finished_at = NULL,
           cancel_requested_at = NULL,
           version = t.version + 1,
           updated_at = now()
      FROM before b  -- locked first, so `left_status` is the status this update replaced
     WHERE t.id = b.id
       AND t.status IN ('DeadLetter', 'Failed')
       AND t.wait_reason IS DISTINCT FROM 'children'
       -- A saga's dead step is final: the saga has compensated it (or is compensating).
       AND NOT (t.status = 'DeadLetter' AND t.parent_id IS NOT NULL
                AND EXISTS (SELECT 1 FROM task_groups g
                             WHERE g.parent_id = t.parent_id AND g.kind = 'saga'))
    RETURNING t.id, t.tenant_id, t.version, t.status, t.trace_id, t.attempt_count, t.parent_id,
              b.status AS left_status
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT id, tenant_id, version, 'TaskRequeued', status, trace_id, attempt_count,
           jsonb_build_object('requestedBy', %(requested_by)s::text)
      FROM requeued
)
SELECT id, left_status, parent_id, tenant_id FROM requeued;

-- name: task_result_list
-- The newest result artifact of each of these tasks, for those that have one (a page of tasks in one query).
SELECT DISTINCT ON (task_id) task_id, content
  FROM task_artifacts
 WHERE task_id = ANY(%(task_ids)s::uuid[]) AND kind = 'result'
 ORDER BY task_id, created_at DESC;

-- name: task_artifact_get
-- One artifact of one task.
SELECT id, task_id, kind, name, content_type, content, uri, size_bytes, created_at
  FROM task_artifacts
 WHERE task_id = %(task_id)s AND id = %(id)s;

-- name: task_event_list_after
-- A task's events after a given event id (for resuming a stream).
SELECT id, task_id, tenant_id, sequence, event_type, status, occurred_at, trace_id, detail
  FROM task_events
 WHERE task_id = %(task_id)s AND id > %(after_id)s
 ORDER BY id;

-- name: tenant_event_list_after
-- A tenant's events after a cursor (for the tenant-wide stream), with the bounds of the snapshot they were read in: every transaction below snapshot_xmin has ended. At least one row: id is NULL when there is no event (see app/domain/event_cursor.py).
WITH snapshot AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS snapshot_xmin,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS snapshot_xmax
)
SELECT e.id, e.task_id, e.tenant_id, e.sequence, e.event_type, e.status, e.occurred_at,
       e.trace_id, e.detail, s.snapshot_xmin, s.snapshot_xmax
  FROM snapshot s
  LEFT JOIN LATERAL (
        SELECT id, task_id, tenant_id, sequence, event_type, status, occurred_at, trace_id,
               detail
          FROM task_events
         WHERE tenant_id = %(tenant_id)s AND id > %(after_id)s
         ORDER BY id
         LIMIT 1000
       ) e ON true
 ORDER BY e.id;

-- name: queue_stats
-- Counts by status, oldest waiting age and recent throughput, for one tenant or all (NULL).
SELECT count(*) FILTER (WHERE status = 'Queued' AND scheduled_at <= now())        AS waiting,
       count(*) FILTER (WHERE status IN ('Queued', 'Failed') AND scheduled_at > now()) AS scheduled,
       count(*) FILTER (WHERE status IN ('Reserved', 'Running'))                    AS running,
       count(*) FILTER (WHERE status = 'Succeeded')                                 AS succeeded,
       count(*) FILTER (WHERE status = 'Failed')                                    AS failed,
       count(*) FILTER (WHERE status = 'DeadLetter')                                AS dead_lettered,
       count(*) FILTER (WHERE status = 'Cancelled')                                 AS cancelled,
       coalesce(extract(epoch FROM max(now() - scheduled_at)
                FILTER (WHERE status IN ('Queued', 'Failed') AND scheduled_at <= now())), 0)
                                                                                    AS oldest_waiting_seconds,
       count(*) FILTER (WHERE finished_at > now() - interval '1 minute')            AS finished_last_minute,
       count(*) FILTER (WHERE finished_at > now() - interval '5 minutes')           AS finished_last_5_minutes,
       count(*) FILTER (WHERE finished_at > now() - interval '15 minutes')          AS finished_last_15_minutes
  FROM tasks
 WHERE %(tenant_id)s::uuid IS NULL OR tenant_id = %(tenant_id)s::uuid;

-- name: tenant_event_last_id
-- The newest event id of a tenant (where a stream of new events starts).
SELECT coalesce(max(id), 0) AS last_id FROM task_events WHERE tenant_id = %(tenant_id)s;
