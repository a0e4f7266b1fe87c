-- 0003: views that let a DBA understand the queue from psql alone.

-- Counts by status and type, with the age of the oldest task that is due and waiting.
CREATE VIEW queue_overview AS
SELECT status,
       type,
       count(*)                                                          AS tasks,
       count(*) FILTER (WHERE status IN ('Queued', 'Failed') AND scheduled_at <= now())
                                                                         AS due_now,
       min(scheduled_at) FILTER (WHERE status IN ('Queued', 'Failed'))   AS next_scheduled_at,
       max(now() - scheduled_at) FILTER (WHERE status IN ('Queued', 'Failed')
                                         AND scheduled_at <= now())      AS oldest_waiting_age
  FROM tasks
 GROUP BY status, type
 ORDER BY status, type;

-- Leases that ran out: the worker crashed, froze or lost its connection.
-- The maintenance loop returns these to the queue; until then they show here.
CREATE VIEW expired_leases AS
SELECT id,
       tenant_id,
       type,
       status,
       locked_by,
       locked_until,
       now() - locked_until AS expired_for,
       attempt_count,
       max_attempts
  FROM tasks
 WHERE status IN ('Reserved', 'Running')
   AND locked_until < now()
 ORDER BY locked_until;

-- What each tenant has in the queue.
CREATE VIEW tenant_backlog AS
SELECT t.id                                                                  AS tenant_id,
       t.name                                                                AS tenant,
       count(k.id) FILTER (WHERE k.status = 'Queued' AND k.scheduled_at <= now()) AS waiting,
       count(k.id) FILTER (WHERE k.status IN ('Queued', 'Failed')
                           AND k.scheduled_at > now())                       AS scheduled,
       count(k.id) FILTER (WHERE k.status IN ('Reserved', 'Running'))        AS running,
       count(k.id) FILTER (WHERE k.status = 'Failed' AND k.scheduled_at <= now()) AS retry_due,
       count(k.id) FILTER (WHERE k.status = 'DeadLetter')                    AS dead_letter,
       max(now() - k.scheduled_at) FILTER (WHERE k.status IN ('Queued', 'Failed')
                                           AND k.scheduled_at <= now())      AS oldest_waiting_age
  FROM tenants t
  LEFT JOIN tasks k ON k.tenant_id = t.id AND k.finished_at IS NULL
 GROUP BY t.id, t.name
 ORDER BY t.name;
