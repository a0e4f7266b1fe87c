-- name: task_groups_settle
-- Apply children's endings (sign 1) and reopenings (sign -1), in the transaction that changed the children: first to the tasks that depend on them (released, or cancelled in turn), then to their parents; returns the parents it completed (docs/design/dependencies.md).
SELECT parent_id, parent_status, callback_task_id
  FROM task_groups_settle(task_dependencies_release(%(changes)s::jsonb));

-- name: task_group_lock
-- Lock a parent's group row (before its task row, the order every path takes); says whether the task is a parent.
SELECT parent_id FROM task_groups
 WHERE parent_id = %(id)s AND tenant_id = %(tenant_id)s
   FOR UPDATE;

-- name: task_cancel_children
-- Cancel a parent's children: waiting ones at once, running ones by asking their workers (a saga's compensations excepted); returns those cancelled now.
WITH updated AS (
    UPDATE tasks t
       SET status = CASE WHEN t.status IN ('Created', 'Queued', 'Failed')
                         THEN 'Cancelled'::task_status ELSE t.status END,
           finished_at = CASE WHEN t.status IN ('Created', 'Queued', 'Failed') THEN now() END,
           cancel_requested_at = now(),
           version = t.version + 1,
           updated_at = now()
     WHERE t.parent_id = %(parent_id)s
       AND t.tenant_id = %(tenant_id)s
       AND t.status IN ('Created', 'Queued', 'Failed', 'Reserved', 'Running')
       AND t.cancel_requested_at IS NULL
       -- A saga's compensations are never cancelled: cancelling a saga is what starts them.
       AND t.wait_reason IS DISTINCT FROM 'compensation'
    RETURNING t.id, t.tenant_id, t.parent_id, t.version, t.status, t.trace_id, t.attempt_count
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
SELECT id, parent_id, tenant_id, status FROM updated WHERE status = 'Cancelled';
