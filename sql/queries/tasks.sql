-- name: task_enqueue_many
-- Insert tasks (ids chosen by the caller) with their TaskQueued events; a task whose idempotency key its tenant already used is skipped.
WITH input AS (
    SELECT *
      FROM unnest(
               %(ids)s::uuid[], %(tenant_ids)s::uuid[], %(types)s::text[],
               %(domain_types)s::domain_type[], %(capability_types)s::capability_type[],
               %(execution_types)s::execution_type[], %(priorities)s::smallint[],
               %(payloads)s::jsonb[], %(idempotency_keys)s::text[], %(request_hashes)s::text[],
               %(scheduled_ats)s::timestamptz[], %(max_attempts)s::integer[],
               %(timeout_seconds)s::integer[], %(retry_policies)s::jsonb[],
               %(correlation_ids)s::text[], %(trace_ids)s::text[]
           ) AS i(id, tenant_id, type, domain_type, capability_type, execution_type, priority,
                  payload, idempotency_key, request_hash, scheduled_at, max_attempts,
                  timeout_seconds, retry_policy, correlation_id, trace_id)
), inserted AS (
    INSERT INTO tasks (id, tenant_id, type, domain_type, capability_type, execution_type, priority,
                       payload, idempotency_key, request_hash, scheduled_at, max_attempts,
                       timeout_seconds, retry_policy, correlation_id, trace_id)
    SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority,
           payload, idempotency_key, request_hash, coalesce(scheduled_at, now()), max_attempts,
           timeout_seconds, retry_policy, correlation_id, trace_id
      FROM input
    ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, tenant_id, version, status, trace_id, scheduled_at, priority
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, detail)
    SELECT id, tenant_id, version, 'TaskQueued', status, trace_id,
           jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
      FROM inserted
)
SELECT id FROM inserted;

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
-- Cancel a waiting task at once, or ask the worker running it to stop; finished tasks are left alone.
WITH updated AS (
    UPDATE tasks t
       SET status = CASE WHEN t.status IN ('Created', 'Queued', 'Failed')
                         THEN 'Cancelled'::task_status ELSE t.status END,
           finished_at = CASE WHEN t.status IN ('Created', 'Queued', 'Failed')
                              THEN now() END,
           cancel_requested_at = now(),
           version = t.version + 1,
           updated_at = now()
     WHERE t.id = %(id)s
       AND t.tenant_id = %(tenant_id)s
       AND t.status IN ('Created', 'Queued', 'Failed', 'Reserved', 'Running')
       AND t.cancel_requested_at IS NULL
    RETURNING t.id, t.tenant_id, t.version, t.status, t.trace_id
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id)
    SELECT id, tenant_id, version,
           CASE WHEN status = 'Cancelled' THEN 'TaskCancelled' ELSE 'TaskCancelRequested' END,
           status, trace_id
      FROM updated
)
SELECT id, status FROM updated;

-- name: task_attempt_list
-- A task's attempts, oldest first.
SELECT id, task_id, attempt_no, worker_id, status, started_at, ended_at, model, tokens_in,
       tokens_out, cost, latency_ms, error_code, error_detail
  FROM task_attempts
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
