-- name: operator_task_list
-- The newest tasks of every tenant (or one), filtered by status and type, for `assistente tasks list`.
SELECT id, tenant_id, type, status, priority, attempt_count, max_attempts, last_error,
       created_at, finished_at
  FROM tasks
 WHERE (%(tenant_id)s::uuid IS NULL OR tenant_id = %(tenant_id)s::uuid)
   AND (%(status)s::task_status IS NULL OR status = %(status)s::task_status)
   AND (%(type)s::text IS NULL OR type = %(type)s::text)
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: operator_dead_letter_list
-- Dead letters oldest first after a (finished_at, id) key, dead-lettered by `until`, filtered by tenant, type, error code (of the event that dead-lettered it) and since; a bulk requeue pages through them.
SELECT t.id, t.tenant_id, t.type, t.attempt_count, t.last_error, t.finished_at,
       e.error_code
  FROM tasks t
  LEFT JOIN LATERAL (SELECT ev.detail ->> 'errorCode' AS error_code
                       FROM task_events ev
                      WHERE ev.task_id = t.id AND ev.status = 'DeadLetter'
                      ORDER BY ev.sequence DESC
                      LIMIT 1) e ON true
 WHERE t.status = 'DeadLetter'
   AND (%(tenant_id)s::uuid IS NULL OR t.tenant_id = %(tenant_id)s::uuid)
   AND (%(type)s::text IS NULL OR t.type = %(type)s::text)
   AND (%(error_code)s::text IS NULL OR e.error_code = %(error_code)s::text)
   AND (%(since)s::timestamptz IS NULL OR t.finished_at >= %(since)s::timestamptz)
   AND t.finished_at <= %(until)s::timestamptz
   AND (%(after_finished)s::timestamptz IS NULL
        OR (t.finished_at, t.id) > (%(after_finished)s::timestamptz, %(after_id)s::uuid))
 ORDER BY t.finished_at, t.id
 LIMIT %(limit)s;

-- name: operator_dead_letter_count
-- How many dead letters match the filters of `operator_dead_letter_list` (before a bulk requeue).
SELECT count(*)
  FROM tasks t
  LEFT JOIN LATERAL (SELECT ev.detail ->> 'errorCode' AS error_code
                       FROM task_events ev
                      WHERE ev.task_id = t.id AND ev.status = 'DeadLetter'
                      ORDER BY ev.sequence DESC
                      LIMIT 1) e ON true
 WHERE t.status = 'DeadLetter'
   AND (%(tenant_id)s::uuid IS NULL OR t.tenant_id = %(tenant_id)s::uuid)
   AND (%(type)s::text IS NULL OR t.type = %(type)s::text)
   AND (%(error_code)s::text IS NULL OR e.error_code = %(error_code)s::text)
   AND (%(since)s::timestamptz IS NULL OR t.finished_at >= %(since)s::timestamptz)
   AND t.finished_at <= %(until)s::timestamptz;

-- name: operator_migration_versions
-- The migrations this database has applied (the CLI compares them with the files it ships).
SELECT version FROM schema_migrations WHERE state = 'applied' ORDER BY version;

-- name: maintenance_leader_present
-- Whether some session of this database holds the maintenance leader's advisory lock (the key of maintenance_try_lead, split into classid and objid as pg_locks shows a bigint key).
SELECT EXISTS (
    SELECT 1
      FROM pg_locks
     WHERE locktype = 'advisory' AND objsubid = 1 AND granted
       -- Advisory locks belong to a database: another database's leader is not ours.
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((classid::bigint << 32) | objid::bigint)
           = hashtext('assistente.maintenance')::bigint
) AS present;

-- name: operator_parked_count
-- Parked tasks (view task_waiting) by why they wait, for one tenant or all (NULL).
SELECT coalesce(wait_reason, 'unknown') AS reason, count(*) AS count
  FROM task_waiting
 WHERE %(tenant_id)s::uuid IS NULL OR tenant_id = %(tenant_id)s::uuid
 GROUP BY 1
 ORDER BY 1;

-- name: operator_worker_summary
-- Workers running now (view worker_activity), their slots and the tasks they hold.
SELECT count(*) AS running,
       coalesce(sum(concurrency), 0) AS slots,
       coalesce(sum(held_tasks), 0) AS held
  FROM worker_activity
 WHERE status = 'running';

-- name: operator_prune_count
-- What a prune would delete now, deleting nothing: the predicates of task_prune_finished, signal_prune_expired and worker_prune; artifacts counts the doomed tasks with a stored file (a local artifact URI), as the artifact store's delete_tasks counts folders.
WITH doomed AS (
    SELECT id
      FROM tasks
     WHERE finished_at < now() - make_interval(secs => least(%(retention_seconds)s::float8,
                                                              %(dead_letter_retention_seconds)s::float8))
       AND finished_at < now() - make_interval(secs => CASE WHEN status = 'DeadLetter'
                                                             THEN %(dead_letter_retention_seconds)s::float8
                                                             ELSE %(retention_seconds)s::float8 END)
)
SELECT (SELECT count(*) FROM doomed) AS tasks,
       (SELECT count(*)
          FROM doomed d
         WHERE EXISTS (SELECT 1 FROM task_artifacts a
                        WHERE a.task_id = d.id AND a.uri LIKE 'artifact://local/%%')) AS artifacts,
       (SELECT count(*) FROM signals WHERE expires_at < now()) AS signals,
       (SELECT count(*)
          FROM workers
         WHERE status IN ('stopped', 'dead')
           AND stopped_at < now() - make_interval(secs => %(worker_retention_seconds)s::float8)
       ) AS workers;
