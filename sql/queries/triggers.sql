-- name: trigger_create
-- Store a trigger, active; nothing when the tenant has a trigger of that name already. Returns it as stored.
INSERT INTO task_triggers (id, tenant_id, name, on_kind, event_types, statuses, task_types,
                           signal_name, task)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(on_kind)s, %(event_types)s::text[],
        %(statuses)s::task_status[], %(task_types)s::text[], %(signal_name)s, %(task)s::jsonb)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING id, tenant_id, name, on_kind, event_types, statuses::text[] AS statuses, task_types,
          signal_name, task, active, fired_count, last_fired_at, skipped_count, last_error,
          last_error_at, created_at, updated_at;

-- name: trigger_get
-- One trigger of one tenant.
SELECT id, tenant_id, name, on_kind, event_types, statuses::text[] AS statuses, task_types,
       signal_name, task, active, fired_count, last_fired_at, skipped_count, last_error,
       last_error_at, created_at, updated_at
  FROM task_triggers
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s;

-- name: trigger_list
-- A tenant's triggers, by name (a tenant has a handful: no paging).
SELECT id, tenant_id, name, on_kind, event_types, statuses::text[] AS statuses, task_types,
       signal_name, task, active, fired_count, last_fired_at, skipped_count, last_error,
       last_error_at, created_at, updated_at
  FROM task_triggers
 WHERE tenant_id = %(tenant_id)s
 ORDER BY name
 LIMIT %(limit)s;

-- name: trigger_set_active
-- Pause (false) or resume (true) one trigger of one tenant; returns it as it is now.
UPDATE task_triggers
   SET active = %(active)s, updated_at = now()
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s
RETURNING id, tenant_id, name, on_kind, event_types, statuses::text[] AS statuses, task_types,
          signal_name, task, active, fired_count, last_fired_at, skipped_count, last_error,
          last_error_at, created_at, updated_at;

-- name: trigger_delete
-- Delete one trigger of one tenant (the tasks it started stay).
DELETE FROM task_triggers
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s
RETURNING id;
