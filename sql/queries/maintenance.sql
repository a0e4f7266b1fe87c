-- name: maintenance_try_lead
-- Become the maintenance leader if no other session is (held until this session ends).
SELECT pg_try_advisory_lock(hashtext('assistente.maintenance')) AS leader;

-- name: maintenance_session_keepalives
-- Have the server probe this session's client so a vanished leader loses its lock quickly.
SELECT set_config('tcp_keepalives_idle', '10', false),
       set_config('tcp_keepalives_interval', '5', false),
       set_config('tcp_keepalives_count', '3', false);

-- name: maintenance_resign
-- Give up maintenance leadership.
SELECT pg_advisory_unlock(hashtext('assistente.maintenance'));

-- name: task_rescue_expired
-- Return tasks whose lease ran out: the attempt is Lost and counts; the task is retried at once, dead-lettered when out of attempts, or cancelled if that was asked. Returns parent_id so a child's ending reaches its parent in the same transaction.
WITH expired AS (
    SELECT id, attempt_id, locked_by, attempt_count, attempt_started_at
      FROM tasks
     WHERE status IN ('Reserved', 'Running')
       AND locked_until < now()
     ORDER BY locked_until
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE tasks t
       SET status = CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'Cancelled'
                         WHEN t.attempt_count >= t.max_attempts THEN 'DeadLetter'
                         ELSE 'Failed' END::task_status,
           scheduled_at = now(),
           finished_at = CASE WHEN t.cancel_requested_at IS NOT NULL
                                OR t.attempt_count >= t.max_attempts THEN now() END,
           last_error = 'lease expired: worker ' || e.locked_by || ' stopped reporting',
           locked_by = NULL,
           locked_until = NULL,
           attempt_id = NULL,
           version = t.version + 1,
           updated_at = now()
      FROM expired e
     WHERE t.id = e.id
    RETURNING t.id, t.tenant_id, t.version, t.status, t.trace_id, t.attempt_count, t.parent_id,
              e.attempt_id AS lost_attempt_id,
              e.locked_by AS lost_worker, e.attempt_count AS attempt_no,
              e.attempt_started_at
), attempts AS (
    INSERT INTO task_attempts (id, task_id, attempt_no, worker_id, status, started_at, ended_at,
                               error_code, error_detail)
    SELECT lost_attempt_id, id, attempt_no, lost_worker, 'Lost', coalesce(attempt_started_at, now()),
           now(), 'LeaseExpired', 'worker ' || lost_worker || ' stopped renewing its lease'
      FROM rescued
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT id, tenant_id, version,
           CASE status WHEN 'Cancelled' THEN 'TaskCancelled'
                       WHEN 'DeadLetter' THEN 'TaskDeadLettered'
                       ELSE 'TaskFailed' END,
           status, trace_id, attempt_count,
           jsonb_build_object('attemptStatus', 'Lost', 'errorCode', 'LeaseExpired',
                              'workerId', lost_worker)
      FROM rescued
)
SELECT id, status, parent_id, tenant_id FROM rescued;

-- name: task_wake_due
-- Wake idle workers when delayed tasks or retries have come due since `since`.
SELECT pg_notify('assistente_tasks', '')
  FROM (SELECT 1
          FROM tasks
         WHERE status IN ('Queued', 'Failed')
           AND scheduled_at > %(since)s
           AND scheduled_at <= now()
         LIMIT 1) AS due;

-- name: task_prune_finished
-- Delete one batch of finished tasks past their retention, with their attempts, events and artifact rows; the attempts' usage is first added to usage_history, so usage_daily keeps it. Returns the deleted task ids, whose stored files the caller deletes once this has committed.
WITH doomed AS (
    SELECT id, tenant_id
      FROM tasks
     WHERE finished_at < now() - make_interval(secs => least(%(retention_seconds)s::float8,
                                                              %(dead_letter_retention_seconds)s::float8))
       AND finished_at < now() - make_interval(secs => CASE WHEN status = 'DeadLetter'
                                                             THEN %(dead_letter_retention_seconds)s::float8
                                                             ELSE %(retention_seconds)s::float8 END)
     ORDER BY finished_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), attempts AS (
    DELETE FROM task_attempts a USING doomed d WHERE a.task_id = d.id
    RETURNING d.tenant_id, a.ended_at, a.model, a.tokens_in, a.tokens_out, a.cost, a.latency_ms
), folded AS (
    -- The same rule as the view usage_daily: an ended attempt with a model, tokens or a cost.
    -- Grouped, so each key comes once (ON CONFLICT may touch a row only once per statement),
    -- and ordered, so two pruners would lock history rows in the same order.
    INSERT INTO usage_history AS h (tenant_id, day, model, attempts, tokens_in, tokens_out, cost,
                                    unpriced_attempts, latency_ms, timed_attempts)
    SELECT tenant_id, (ended_at AT TIME ZONE 'UTC')::date, coalesce(model, ''), count(*),
           coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), coalesce(sum(cost), 0),
           count(*) FILTER (WHERE cost IS NULL), coalesce(sum(latency_ms), 0), count(latency_ms)
      FROM attempts
     WHERE ended_at IS NOT NULL
       AND (model IS NOT NULL OR tokens_in IS NOT NULL OR tokens_out IS NOT NULL
            OR cost IS NOT NULL)
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
    ON CONFLICT (tenant_id, day, model) DO UPDATE
       SET attempts = h.attempts + EXCLUDED.attempts,
           tokens_in = h.tokens_in + EXCLUDED.tokens_in,
           tokens_out = h.tokens_out + EXCLUDED.tokens_out,
           cost = h.cost + EXCLUDED.cost,
           unpriced_attempts = h.unpriced_attempts + EXCLUDED.unpriced_attempts,
           latency_ms = h.latency_ms + EXCLUDED.latency_ms,
           timed_attempts = h.timed_attempts + EXCLUDED.timed_attempts
), events AS (
    DELETE FROM task_events e USING doomed d WHERE e.task_id = d.id
), edges AS (
    -- A task's dependsOn edges go with it (it ended after everything it depended on).
    DELETE FROM task_dependencies e USING doomed d WHERE e.task_id = d.id
)
-- Attempts and events lost their foreign keys to tasks in 0004 (and dependsOn edges never
-- had one), so they are deleted above;
-- artifact rows go with their task by the ON DELETE CASCADE of task_artifacts.task_id (0001).
DELETE FROM tasks t
 USING doomed d
 WHERE t.id = d.id
RETURNING t.id;

-- name: database_now
-- The database's clock, which every lease and schedule is measured against.
SELECT now() AS now;
