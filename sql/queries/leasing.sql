-- name: task_lease_available
-- Claim up to `limit` due tasks for one worker in one statement: lease, attempt row and TaskRunning event.
WITH candidate AS (
    SELECT id
      FROM tasks
     WHERE status IN ('Queued', 'Failed')
       AND scheduled_at <= now()
       AND attempt_count < max_attempts
       AND cancel_requested_at IS NULL
     ORDER BY priority, scheduled_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE tasks t
       SET status = 'Running',
           locked_by = %(worker_id)s,
           locked_until = now() + make_interval(secs => %(lease_seconds)s),
           attempt_id = nextval('task_attempts_id_seq'),
           attempt_count = t.attempt_count + 1,
           version = t.version + 1,
           started_at = coalesce(t.started_at, now()),
           updated_at = now()
      FROM candidate c
     WHERE t.id = c.id
    RETURNING t.id, t.tenant_id, t.type, t.capability_type, t.payload, t.attempt_id,
              t.attempt_count, t.max_attempts, t.timeout_seconds, t.retry_policy, t.trace_id,
              t.correlation_id, t.version, t.priority, t.scheduled_at, t.locked_by
), attempts AS (
    INSERT INTO task_attempts (id, task_id, attempt_no, worker_id)
    SELECT attempt_id, id, attempt_count, locked_by FROM leased
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, detail)
    SELECT id, tenant_id, version, 'TaskRunning', 'Running', trace_id,
           jsonb_build_object('attemptNo', attempt_count, 'workerId', locked_by)
      FROM leased
)
SELECT id, tenant_id, type, capability_type, payload, attempt_id, attempt_count, max_attempts,
       timeout_seconds, retry_policy, trace_id, correlation_id
  FROM leased
 ORDER BY priority, scheduled_at;

-- name: task_finish_attempts
-- End many attempts in one statement; each write is guarded by the attempt that holds the lease, so a stale worker changes nothing. A cancel requested meanwhile wins over a retry or a release.
WITH outcome AS (
    SELECT *
      FROM unnest(
               %(task_ids)s::uuid[], %(attempt_ids)s::bigint[], %(task_statuses)s::task_status[],
               %(attempt_statuses)s::attempt_status[], %(event_types)s::text[],
               %(retry_delays)s::float8[], %(error_codes)s::text[], %(error_details)s::text[],
               %(results)s::text[], %(models)s::text[], %(tokens_in)s::integer[],
               %(tokens_out)s::integer[], %(costs)s::numeric[], %(latencies_ms)s::integer[]
           ) AS o(task_id, attempt_id, task_status, attempt_status, event_type, retry_delay,
                  error_code, error_detail, result, model, tokens_in, tokens_out, cost,
                  latency_ms)
), finished AS (
    UPDATE tasks t
       SET status = CASE WHEN t.cancel_requested_at IS NOT NULL
                              AND o.task_status IN ('Failed', 'Queued')
                         THEN 'Cancelled'::task_status ELSE o.task_status END,
           scheduled_at = CASE WHEN o.retry_delay IS NOT NULL
                               THEN now() + make_interval(secs => o.retry_delay)
                               WHEN o.task_status = 'Queued' THEN now()
                               ELSE t.scheduled_at END,
           locked_by = NULL,
           locked_until = NULL,
           attempt_id = NULL,
           -- A lease handed back on shutdown does not use up an attempt.
           attempt_count = t.attempt_count - (o.attempt_status = 'Released')::integer,
           last_error = CASE WHEN o.attempt_status = 'Released' THEN t.last_error
                             ELSE o.error_detail END,
           progress = CASE WHEN o.task_status = 'Succeeded' THEN 100 ELSE t.progress END,
           finished_at = CASE WHEN o.task_status IN ('Succeeded', 'Cancelled', 'DeadLetter')
                                OR t.cancel_requested_at IS NOT NULL THEN now() END,
           version = t.version + 1,
           updated_at = now()
      FROM outcome o
     WHERE t.id = o.task_id
       AND t.attempt_id = o.attempt_id
       AND t.status = 'Running'
    RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.status, t.scheduled_at,
              o.attempt_id AS ended_attempt_id, o.task_status AS reported_status,
              o.attempt_status, o.event_type, o.retry_delay, o.error_code, o.error_detail,
              o.result, o.model, o.tokens_in, o.tokens_out, o.cost, o.latency_ms
), attempts AS (
    UPDATE task_attempts a
       SET status = f.attempt_status,
           ended_at = now(),
           error_code = f.error_code,
           error_detail = f.error_detail,
           model = f.model,
           tokens_in = f.tokens_in,
           tokens_out = f.tokens_out,
           cost = f.cost,
           latency_ms = f.latency_ms
      FROM finished f
     WHERE a.id = f.ended_attempt_id
), artifacts AS (
    INSERT INTO task_artifacts (task_id, kind, name, content_type, content, size_bytes)
    SELECT id, 'result', 'result.json', 'application/json', result, octet_length(result)
      FROM finished
     WHERE result IS NOT NULL
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, detail)
    SELECT id, tenant_id, version,
           CASE WHEN status <> reported_status THEN 'TaskCancelled' ELSE event_type END,
           status, trace_id,
           jsonb_strip_nulls(jsonb_build_object(
               'attemptStatus', attempt_status,
               'retryAt', CASE WHEN status = 'Failed' THEN scheduled_at END,
               'errorCode', error_code, 'error', error_detail))
      FROM finished
)
SELECT ended_attempt_id FROM finished;

-- name: task_extend_leases
-- Heartbeat: push the deadline of leases this worker still holds; says which have a cancel request.
UPDATE tasks t
   SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
  FROM unnest(%(task_ids)s::uuid[], %(attempt_ids)s::bigint[]) AS l(task_id, attempt_id)
 WHERE t.id = l.task_id
   AND t.attempt_id = l.attempt_id
   AND t.status = 'Running'
RETURNING t.attempt_id, t.cancel_requested_at IS NOT NULL AS cancel_requested;

-- name: task_record_progress
-- Store the latest progress, state and metadata of running tasks (coalesced by the worker) with a TaskProgressed event each.
WITH progress AS (
    SELECT *
      FROM unnest(
               %(task_ids)s::uuid[], %(attempt_ids)s::bigint[], %(progresses)s::smallint[],
               %(states)s::text[], %(metadata)s::jsonb[]
           ) AS p(task_id, attempt_id, progress, state, metadata)
), updated AS (
    UPDATE tasks t
       SET progress = coalesce(p.progress, t.progress),
           state = coalesce(p.state, t.state),
           metadata = t.metadata || coalesce(p.metadata, '{}'),
           version = t.version + 1,
           updated_at = now()
      FROM progress p
     WHERE t.id = p.task_id
       AND t.attempt_id = p.attempt_id
       AND t.status = 'Running'
    RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.progress, t.state
)
INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, detail)
SELECT id, tenant_id, version, 'TaskProgressed', 'Running', trace_id,
       jsonb_strip_nulls(jsonb_build_object('progress', progress, 'state', state))
  FROM updated;

-- name: task_artifact_add
-- Store an artifact written by a running handler, only while its attempt holds the lease.
INSERT INTO task_artifacts (task_id, kind, name, content_type, content, uri, size_bytes)
SELECT t.id, %(kind)s, %(name)s, %(content_type)s, %(content)s, %(uri)s, %(size_bytes)s
  FROM tasks t
 WHERE t.id = %(task_id)s
   AND t.attempt_id = %(attempt_id)s
   AND t.status = 'Running'
RETURNING id;
