-- name: batch_create
-- Create a batch in one statement: its parent task (held in Created, waiting for its children), its group row, every child (Queued, or held in Created while it waits for the tasks it depends on) with their events, and the dependsOn edges; nothing when the tenant already used the batch's idempotency key. Returns the parent's id.
WITH input AS (
    SELECT *
      FROM jsonb_to_record(%(batch)s::jsonb)
           AS b(id uuid, tenant_id uuid, type text, priority smallint, idempotency_key text,
                request_hash text, correlation_id text, trace_id text, failure_policy text,
                on_complete jsonb, total integer)
), parent AS (
    INSERT INTO tasks (id, tenant_id, type, execution_type, priority, status, payload,
                       idempotency_key, request_hash, correlation_id, trace_id, wait_reason)
    SELECT id, tenant_id, type, 'Batch', priority, 'Created', '{}', idempotency_key,
           request_hash, correlation_id, trace_id, 'children'
      FROM input
    ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, tenant_id, version, status, trace_id, attempt_count
), grp AS (
    INSERT INTO task_groups (parent_id, tenant_id, kind, failure_policy, total, remaining,
                             on_complete)
    SELECT p.id, p.tenant_id, 'batch', i.failure_policy, i.total, i.total, i.on_complete
      FROM parent p CROSS JOIN input i
), children AS (
    INSERT INTO tasks (id, tenant_id, parent_id, type, domain_type, capability_type, priority,
                       payload, scheduled_at, max_attempts, timeout_seconds, retry_policy,
                       correlation_id, trace_id, status, wait_reason, deps_pending,
                       execution_type)
    SELECT c.id, p.parent_tenant, p.id, c.type, c.domain_type, c.capability_type, c.priority,
           c.payload, coalesce(c.scheduled_at, now()), c.max_attempts, c.timeout_seconds,
           c.retry_policy, c.correlation_id, c.trace_id,
           CASE WHEN c.deps_pending > 0 THEN 'Created' ELSE 'Queued' END::task_status,
           CASE WHEN c.deps_pending > 0 THEN 'dependencies' END, c.deps_pending,
           coalesce(c.execution_type, 'Async')
      FROM (SELECT id, tenant_id AS parent_tenant FROM parent) p
     CROSS JOIN jsonb_to_recordset(%(children)s::jsonb)
           AS c(id uuid, type text, domain_type domain_type, capability_type capability_type,
                priority smallint, payload jsonb, scheduled_at timestamptz,
                max_attempts integer, timeout_seconds integer, retry_policy jsonb,
                correlation_id text, trace_id text, deps_pending integer,
                execution_type execution_type)
    RETURNING id, tenant_id, version, status, trace_id, attempt_count, scheduled_at, priority
), edges AS (
    INSERT INTO task_dependencies (task_id, depends_on, tenant_id)
    SELECT e.task_id, e.depends_on, p.tenant_id
      FROM parent p
     CROSS JOIN jsonb_to_recordset(%(edges)s::jsonb) AS e(task_id uuid, depends_on uuid)
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT p.id, p.tenant_id, p.version, 'BatchCreated', p.status, p.trace_id, p.attempt_count,
           jsonb_build_object('total', i.total, 'failurePolicy', i.failure_policy)
      FROM parent p CROSS JOIN input i
    UNION ALL
    SELECT id, tenant_id, version, 'TaskQueued', status, trace_id, attempt_count,
           jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
      FROM children
     WHERE status = 'Queued'  -- a held task publishes nothing until it is released
)
SELECT id FROM parent;

-- name: batch_get
-- One batch of one tenant: its parent task's status and its group's counts.
SELECT t.id, t.tenant_id, t.type, t.status, t.priority, t.idempotency_key, t.request_hash,
       t.correlation_id, t.trace_id, t.created_at, t.updated_at, t.finished_at,
       t.cancel_requested_at, t.version, g.failure_policy, g.total, g.remaining, g.succeeded,
       g.dead_lettered, g.cancelled, g.generation, g.on_complete, g.callback_task_id,
       g.completed_at
  FROM tasks t
  JOIN task_groups g ON g.parent_id = t.id
 WHERE t.id = %(id)s AND t.tenant_id = %(tenant_id)s AND g.kind = 'batch';

-- name: batch_get_by_idempotency_key
-- The batch a tenant already created under this idempotency key.
SELECT t.id
  FROM tasks t
  JOIN task_groups g ON g.parent_id = t.id
 WHERE t.tenant_id = %(tenant_id)s AND t.idempotency_key = %(key)s AND g.kind = 'batch';

-- name: batch_child_status_counts
-- How many of a batch's children are in each status.
SELECT status, count(*) AS tasks
  FROM tasks
 WHERE parent_id = %(id)s AND tenant_id = %(tenant_id)s
 GROUP BY status;

-- name: batch_child_list
-- A page of a batch's children in the order they were given, after a cursor (a child id; NULL: from the start).
SELECT id, tenant_id, type, domain_type, capability_type, execution_type, priority, status,
       payload, idempotency_key, request_hash, scheduled_at, locked_until, locked_by,
       max_attempts, attempt_count, last_error, progress, state, metadata, timeout_seconds,
       cancel_requested_at, correlation_id, trace_id, version, created_at, updated_at,
       started_at, finished_at
  FROM tasks
 WHERE parent_id = %(id)s
   AND tenant_id = %(tenant_id)s
   AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
 ORDER BY id
 LIMIT %(limit)s;
