-- name: schedule_create
-- Create a tenant's schedule; nothing when the tenant already has one of that name.
INSERT INTO schedules (id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(cron)s, %(timezone)s, %(task)s, %(missed)s,
        %(paused)s, %(next_run_at)s)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at,
          last_tick_at, source, retired_at, created_at, updated_at;

-- name: schedule_get
-- One schedule of one tenant.
SELECT id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at, last_tick_at,
       source, retired_at, created_at, updated_at
  FROM schedules
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s;

-- name: schedule_list
-- A page of schedules by name, after a name; of one tenant, or of all when tenant_id is NULL (the CLI).
SELECT id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at, last_tick_at,
       source, retired_at, created_at, updated_at
  FROM schedules
 WHERE (%(tenant_id)s::uuid IS NULL OR tenant_id = %(tenant_id)s::uuid)
   AND (%(after)s::text IS NULL OR name > %(after)s::text)
 ORDER BY name, tenant_id
 LIMIT %(limit)s;

-- name: schedule_set_paused
-- Pause a schedule, or resume it from its next tick after now (ticks while paused are not caught up); a retired code schedule is not resumed.
UPDATE schedules
   SET paused = %(paused)s,
       next_run_at = coalesce(%(next_run_at)s, next_run_at),
       updated_at = now()
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s
   AND (%(paused)s OR retired_at IS NULL)
RETURNING id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at,
          last_tick_at, source, retired_at, created_at, updated_at;

-- name: schedule_delete
-- Delete a schedule the API may delete: its own, or a code schedule no longer declared (retired).
DELETE FROM schedules
 WHERE id = %(id)s AND tenant_id = %(tenant_id)s
   AND (source = 'api' OR retired_at IS NOT NULL)
RETURNING id;

-- name: schedule_lock_due
-- Lock the active schedules whose next tick has come, oldest first; rows another keeper (or an API call) holds are skipped.
SELECT id, tenant_id, name, cron, timezone, task, missed, paused, next_run_at, last_tick_at,
       source, retired_at, created_at, updated_at
  FROM schedules
 WHERE NOT paused AND next_run_at <= %(now)s
 ORDER BY next_run_at
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: schedule_advance
-- Move locked schedules on: their next tick, and the newest tick that started a task.
UPDATE schedules s
   SET next_run_at = a.next_run_at,
       last_tick_at = coalesce(a.last_tick_at, s.last_tick_at),
       updated_at = now()
  FROM jsonb_to_recordset(%(advances)s::jsonb)
       AS a(id uuid, next_run_at timestamptz, last_tick_at timestamptz)
 WHERE s.id = a.id;

-- name: schedule_tick_mark
-- Name the schedule and tick in the first event (TaskQueued) of the tasks ticks inserted, before the transaction commits (the relay reads the event's detail when it publishes).
UPDATE task_events e
   SET detail = e.detail || jsonb_build_object('schedule',
                                               jsonb_build_object('id', m.schedule_id,
                                                                  'tick', m.tick))
  FROM jsonb_to_recordset(%(marks)s::jsonb) AS m(task_id uuid, schedule_id uuid, tick text)
 WHERE e.task_id = m.task_id AND e.event_type = 'TaskQueued';

-- name: schedule_code_upsert
-- Declare the code schedules of starting workers: insert, or update a code schedule of the same tenant and name (its next tick is recomputed when its cron or zone changed, or when it comes back from retirement, which also resumes it). A name an API schedule holds, or an unknown tenant, is left out; returns what was written.
INSERT INTO schedules AS s (id, tenant_id, name, cron, timezone, task, missed, next_run_at,
                            source)
SELECT d.id, d.tenant_id, d.name, d.cron, d.timezone, d.task, d.missed, d.next_run_at, 'code'
  FROM jsonb_to_recordset(%(schedules)s::jsonb)
       AS d(id uuid, tenant_id uuid, name text, cron text, timezone text, task jsonb,
            missed text, next_run_at timestamptz)
  JOIN tenants t ON t.id = d.tenant_id
ON CONFLICT (tenant_id, name) DO UPDATE
   SET cron = EXCLUDED.cron,
       timezone = EXCLUDED.timezone,
       task = EXCLUDED.task,
       missed = EXCLUDED.missed,
       next_run_at = CASE WHEN s.cron <> EXCLUDED.cron OR s.timezone <> EXCLUDED.timezone
                               OR s.retired_at IS NOT NULL
                          THEN EXCLUDED.next_run_at ELSE s.next_run_at END,
       paused = s.paused AND s.retired_at IS NULL,
       retired_at = NULL,
       updated_at = now()
 WHERE s.source = 'code'
RETURNING s.tenant_id, s.name;

-- name: schedule_code_retire
-- Pause the code schedules of these task types that the starting workers no longer declare.
UPDATE schedules s
   SET paused = true, retired_at = now(), updated_at = now()
 WHERE s.source = 'code'
   AND s.retired_at IS NULL
   AND s.task ->> 'type' = ANY(%(types)s::text[])
   AND NOT EXISTS (SELECT 1
                     FROM unnest(%(tenant_ids)s::uuid[], %(names)s::text[]) AS d(tenant_id, name)
                    WHERE d.tenant_id = s.tenant_id AND d.name = s.name)
RETURNING s.tenant_id, s.name;
