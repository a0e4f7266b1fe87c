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
