-- name: task_waits_check_signals
-- Tasks just parked waiting for a signal that was already received (and is still kept) are queued again at once; returns them (id, parent_id, tenant_id, status).
SELECT id, parent_id, tenant_id, status FROM task_waits_check_signals(%(ids)s::uuid[]);

-- name: task_park_attempts
-- Park the tasks whose handlers asked for input or a signal (attempts Released, not counted); returns (attempt_id, id, parent_id, tenant_id, status) of each task changed.
SELECT attempt_id, id, parent_id, tenant_id, status
  FROM task_park_attempts(%(worker_id)s, %(parks)s::jsonb);

-- name: task_decide
-- A person's decision on a waiting task: (outcome, status, parent_id, wait_kind); outcome is decided, not_waiting or not_found.
SELECT outcome, status, parent_id, wait_kind
  FROM task_decide(%(tenant_id)s, %(task_id)s, %(decision)s, %(comment)s, %(input)s::jsonb,
                   %(key_id)s, %(decided_by)s);

-- name: task_wait_get
-- What one task of a tenant waits for (none: no row).
SELECT w.task_id, w.kind, w.wait_key, w.question, w.input_schema, w.signal_name, w.signal_key,
       w.deadline_at, w.on_deadline, w.since
  FROM task_waits w
 WHERE w.task_id = %(task_id)s AND w.tenant_id = %(tenant_id)s;

-- name: task_waits_expire
-- The deadline sweep (maintenance leader): waits past their deadline end as on_deadline says; returns (id, parent_id, tenant_id, status) of each task moved on.
SELECT id, parent_id, tenant_id, status FROM task_waits_expire(%(limit)s);

-- name: signal_send
-- Receive a signal: keep it, resume every task of the tenant waiting for it. (created, request_hash, resumed, received_at, expires_at).
SELECT created, request_hash, resumed, received_at, expires_at
  FROM signal_send(%(tenant_id)s, %(id)s, %(name)s, %(key)s, %(data)s::jsonb,
                   %(request_hash)s, %(retention_seconds)s);

-- name: signal_get
-- One signal of a tenant.
SELECT id, name, key, data, created_at, expires_at, resumed
  FROM signals
 WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: signal_prune_expired
-- Forget signals past their window, a batch at a time.
DELETE FROM signals
 WHERE ctid = ANY (ARRAY(SELECT ctid FROM signals WHERE expires_at < now() LIMIT %(limit)s));

-- name: task_wait_lock
-- Lock one task of a tenant for a decision and read what it waits for (wait columns NULL: it waits for nothing); no row: no such task.
SELECT t.status, t.parent_id, w.kind, w.wait_key, w.question, w.input_schema, w.signal_name,
       w.signal_key, w.deadline_at, w.on_deadline, w.since
  FROM tasks t
  LEFT JOIN task_waits w ON w.task_id = t.id
 WHERE t.id = %(task_id)s AND t.tenant_id = %(tenant_id)s
   FOR UPDATE OF t;

-- name: task_decision_last
-- The newest decision made on one task of a tenant.
SELECT wait_key, decision, decided_by, decided_by_key_id, decided_at
  FROM task_decisions
 WHERE task_id = %(task_id)s AND tenant_id = %(tenant_id)s
 ORDER BY id DESC
 LIMIT 1;

-- name: task_wait_list
-- What each of these tasks of a tenant waits for (a page of tasks shown by the API: one query).
SELECT w.task_id, w.kind, w.wait_key, w.question, w.input_schema, w.signal_name, w.signal_key,
       w.deadline_at, w.on_deadline, w.since
  FROM task_waits w
 WHERE w.task_id = ANY (%(task_ids)s::uuid[]) AND w.tenant_id = %(tenant_id)s;

-- name: task_list_waiting
-- One page of a tenant's tasks waiting for one of `kinds` (approval, input, signal), the longest waiting first, with the total; read from task_waits_tenant_idx.
SELECT t.id, t.tenant_id, t.type, t.domain_type, t.capability_type, t.execution_type,
       t.priority, t.status, t.payload, t.idempotency_key, t.request_hash, t.scheduled_at,
       t.locked_until, t.locked_by, t.max_attempts, t.attempt_count, t.last_error, t.progress,
       t.state, t.metadata, t.timeout_seconds, t.cancel_requested_at, t.correlation_id,
       t.trace_id, t.version, t.created_at, t.updated_at, t.started_at, t.finished_at,
       count(*) OVER () AS total
  FROM task_waits w
  JOIN tasks t ON t.id = w.task_id
 WHERE w.tenant_id = %(tenant_id)s
   AND w.kind = ANY (%(kinds)s::text[])
   AND (%(status)s::task_status IS NULL OR t.status = %(status)s::task_status)
   AND (%(type)s::text IS NULL OR t.type = %(type)s::text)
   AND (%(domain_type)s::domain_type IS NULL OR t.domain_type = %(domain_type)s::domain_type)
   AND (%(capability_type)s::capability_type IS NULL
        OR t.capability_type = %(capability_type)s::capability_type)
 ORDER BY w.since, w.task_id
 LIMIT %(limit)s OFFSET %(offset)s;

-- name: task_count_waiting
-- How many of a tenant's tasks wait for one of `kinds` and match the filters (for a page past the end).
SELECT count(*)
  FROM task_waits w
  JOIN tasks t ON t.id = w.task_id
 WHERE w.tenant_id = %(tenant_id)s
   AND w.kind = ANY (%(kinds)s::text[])
   AND (%(status)s::task_status IS NULL OR t.status = %(status)s::task_status)
   AND (%(type)s::text IS NULL OR t.type = %(type)s::text)
   AND (%(domain_type)s::domain_type IS NULL OR t.domain_type = %(domain_type)s::domain_type)
   AND (%(capability_type)s::capability_type IS NULL
        OR t.capability_type = %(capability_type)s::capability_type);

-- name: task_waiting_list
-- Parked tasks from the task_waiting view (every tenant, or one), the longest waiting first: what each waits for and since when (the CLI).
SELECT task_id, tenant_id, type, execution_type, wait_reason, kind, question, signal_name,
       signal_key, since, waiting_for, deadline_at, on_deadline, parent_id
  FROM task_waiting
 WHERE %(tenant_id)s::uuid IS NULL OR tenant_id = %(tenant_id)s::uuid
 ORDER BY since, task_id
 LIMIT %(limit)s;
