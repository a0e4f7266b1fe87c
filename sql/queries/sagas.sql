-- name: saga_create
-- Create a saga in one statement: its parent task (held in Created, waiting for its steps), its group row, its steps (the first Queued, every other held in Created until the one before it succeeds) with the chain of dependencies between them, its step rows (compensation specs) and events (a step's scheduledAt: not before then, released or not); nothing when the tenant already used the saga's idempotency key. Returns the saga's id.
WITH input AS (
    SELECT *
      FROM jsonb_to_record(%(saga)s::jsonb)
           AS s(id uuid, tenant_id uuid, type text, priority smallint, idempotency_key text,
                request_hash text, correlation_id text, trace_id text, total integer,
                compensate_failed_step boolean)
), parent AS (
    INSERT INTO tasks (id, tenant_id, type, execution_type, priority, status, payload,
                       idempotency_key, request_hash, correlation_id, trace_id, wait_reason)
    SELECT id, tenant_id, type, 'Saga', priority, 'Created', '{}', idempotency_key,
           request_hash, correlation_id, trace_id, 'children'
      FROM input
    ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, tenant_id, version, status, trace_id, attempt_count
), grp AS (
    INSERT INTO task_groups (parent_id, tenant_id, kind, total, remaining, phase,
                             compensate_failed_step)
    SELECT p.id, p.tenant_id, 'saga', i.total, i.total, 'running', i.compensate_failed_step
      FROM parent p CROSS JOIN input i
), spec AS (
    SELECT c.*
      FROM jsonb_to_recordset(%(steps)s::jsonb)
           AS c(id uuid, position integer, name text, type text, domain_type domain_type,
                capability_type capability_type, priority smallint, payload jsonb,
                scheduled_at timestamptz, max_attempts integer, timeout_seconds integer,
                retry_policy jsonb, correlation_id text, trace_id text, compensation jsonb)
), steps AS (
    INSERT INTO tasks (id, tenant_id, parent_id, type, domain_type, capability_type, priority,
                       payload, scheduled_at, max_attempts, timeout_seconds, retry_policy,
                       correlation_id, trace_id, status, wait_reason, deps_pending)
    SELECT c.id, p.tenant_id, p.id, c.type, c.domain_type, c.capability_type, c.priority,
           c.payload, coalesce(c.scheduled_at, now()), c.max_attempts, c.timeout_seconds,
           c.retry_policy, c.correlation_id, c.trace_id,
           CASE WHEN c.position = 0 THEN 'Queued' ELSE 'Created' END::task_status,
           CASE WHEN c.position > 0 THEN 'dependencies' END,
           CASE WHEN c.position > 0 THEN 1 END
      FROM parent p CROSS JOIN spec c
    RETURNING id, tenant_id, version, status, trace_id, attempt_count, scheduled_at, priority
), step_rows AS (
    INSERT INTO saga_steps (saga_id, position, tenant_id, name, task_id, compensation)
    SELECT p.id, c.position, p.tenant_id, c.name, c.id, c.compensation
      FROM parent p CROSS JOIN spec c
), edges AS (
    INSERT INTO task_dependencies (task_id, depends_on, tenant_id)
    SELECT c.id, before.id, p.tenant_id
      FROM parent p
     CROSS JOIN spec c
      JOIN spec before ON before.position = c.position - 1
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT p.id, p.tenant_id, p.version, 'SagaStarted', p.status, p.trace_id, p.attempt_count,
           jsonb_build_object('steps', i.total)
      FROM parent p CROSS JOIN input i
    UNION ALL
    SELECT id, tenant_id, version, 'TaskQueued', status, trace_id, attempt_count,
           jsonb_build_object('scheduledAt', scheduled_at, 'priority', priority)
      FROM steps
     WHERE status = 'Queued'  -- a held step publishes nothing until it is released
)
SELECT id FROM parent;

-- name: saga_get
-- One saga of one tenant: its parent task's status, its phase and the step and compensation that failed.
SELECT t.id, t.tenant_id, t.status, t.request_hash, t.created_at, t.finished_at,
       t.cancel_requested_at, t.metadata, g.phase, g.failed_step, g.failed_compensation,
       g.compensate_failed_step, g.completed_at
  FROM tasks t
  JOIN task_groups g ON g.parent_id = t.id
 WHERE t.id = %(id)s AND t.tenant_id = %(tenant_id)s AND g.kind = 'saga';

-- name: saga_get_by_idempotency_key
-- The saga a tenant already created under this idempotency key.
SELECT t.id
  FROM tasks t
  JOIN task_groups g ON g.parent_id = t.id
 WHERE t.tenant_id = %(tenant_id)s AND t.idempotency_key = %(key)s AND g.kind = 'saga';

-- name: saga_step_list
-- A saga's steps in order, each with its task's and its compensation task's status.
SELECT s.position, s.name, s.task_id, st.type, st.status, st.attempt_count, st.last_error,
       s.compensation IS NOT NULL AS has_compensation, s.compensation ->> 'type' AS compensation_type,
       s.compensation_task_id, ct.status AS compensation_status,
       ct.attempt_count AS compensation_attempts, ct.last_error AS compensation_error,
       s.compensation_order
  FROM saga_steps s
  JOIN tasks st ON st.id = s.task_id
  LEFT JOIN tasks ct ON ct.id = s.compensation_task_id
 WHERE s.saga_id = %(id)s AND s.tenant_id = %(tenant_id)s
 ORDER BY s.position;

-- name: saga_timeline
-- A saga's timeline: its own events and its steps' and compensations' events, oldest first.
SELECT e.task_id, e.event_type, e.status, e.occurred_at, e.detail
  FROM task_events e
 WHERE e.tenant_id = %(tenant_id)s
   AND e.task_id IN (SELECT %(id)s::uuid
                     UNION ALL
                     SELECT s.task_id FROM saga_steps s WHERE s.saga_id = %(id)s
                     UNION ALL
                     SELECT s.compensation_task_id FROM saga_steps s
                      WHERE s.saga_id = %(id)s AND s.compensation_task_id IS NOT NULL)
 ORDER BY e.id;
