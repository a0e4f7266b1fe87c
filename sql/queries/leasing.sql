-- name: task_lease_available
-- Claim up to `limit` due tasks for one worker in one statement: each becomes Reserved, with a lease and a new attempt id. Nothing is published yet: the task shows Running, with its TaskRunning event, once its handler starts (task_start_attempts), and the attempt's row is written when it ends.
WITH candidate AS (
    -- Attempt ids are drawn in claim order, so attempts sort the way they were claimed.
    SELECT ctid, nextval('task_attempts_id_seq') AS attempt_id
      FROM tasks
     WHERE status IN ('Queued', 'Failed')
       AND scheduled_at <= now()
       AND attempt_count < max_attempts
       AND cancel_requested_at IS NULL
     ORDER BY priority, scheduled_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT array_agg(ctid ORDER BY attempt_id) AS rows,
           array_agg(attempt_id ORDER BY attempt_id) AS attempt_ids
      FROM candidate
), leased AS (
    UPDATE tasks t
       SET status = 'Reserved',
           locked_by = %(worker_id)s,
           locked_until = now() + make_interval(secs => %(lease_seconds)s),
           attempt_id = (SELECT attempt_ids[array_position(rows, t.ctid)] FROM picked),
           attempt_count = t.attempt_count + 1,
           -- Not started yet: set when its handler starts (or by the finish, see below).
           attempt_started_at = NULL,
           -- A new attempt reports its own progress and state; one that resumes after a
           -- wait (it has answers) keeps what it reported before it parked.
           progress = CASE WHEN t.resume IS NULL THEN 0 ELSE t.progress END,
           state = CASE WHEN t.resume IS NULL THEN NULL ELSE t.state END,
           updated_at = now()
     -- By row address (the rows are locked): a join here can turn into a scan of the
     -- whole table once it holds a few thousand rows.
     WHERE t.ctid = ANY ((SELECT rows FROM picked)::tid[])
    RETURNING t.id, t.tenant_id, t.type, t.capability_type, t.payload, t.attempt_id,
              t.attempt_count, t.max_attempts, t.timeout_seconds, t.retry_policy, t.trace_id,
              t.correlation_id, t.priority, t.scheduled_at, t.parent_id, t.resume
)
SELECT id, tenant_id, type, capability_type, payload, attempt_id, attempt_count, max_attempts,
       timeout_seconds, retry_policy, trace_id, correlation_id,
       -- The answers to its earlier waits (NULL for nearly every task).
       resume,
       -- A child of a batch: its ending is also its parent's business (task_groups_settle).
       parent_id IS NOT NULL AS has_parent
  FROM leased
 ORDER BY priority, scheduled_at;

-- name: task_start_attempts
-- Reserved tasks whose handlers have started become Running, with a TaskRunning event each (the worker writes these in batches; a task that ends first gets both in its finish).
WITH started AS (
    UPDATE tasks t
       SET status = 'Running',
           version = t.version + 1,
           started_at = coalesce(t.started_at, s.started_at),
           attempt_started_at = s.started_at,
           updated_at = now()
      FROM unnest(%(task_ids)s::uuid[], %(attempt_ids)s::bigint[], %(ran_ms)s::float8[])
           AS a(task_id, attempt_id, ran_ms),
           LATERAL (SELECT now() - make_interval(secs => a.ran_ms / 1000) AS started_at) s
     WHERE t.id = ANY(%(task_ids)s::uuid[])
       AND t.id = a.task_id
       AND t.attempt_id = a.attempt_id  -- set only while leased: the whole guard
       AND t.status = 'Reserved'
    RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.attempt_count, t.attempt_id
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT id, tenant_id, version, 'TaskRunning', 'Running', trace_id, attempt_count,
           jsonb_build_object('attemptNo', attempt_count, 'workerId', %(worker_id)s::text)
      FROM started
)
SELECT attempt_id FROM started;

-- name: task_finish_attempts
-- End many attempts of one worker in one statement: task row, attempt row, result artifact and event. Each write is guarded by the attempt that holds the lease, so a stale worker changes nothing. A cancel requested meanwhile wins over a retry or a release. An attempt whose start was not written yet (`running_event`) gets its TaskRunning event here, just before its end; a task handed back or cancelled before its handler started (`unstarted`) leaves no attempt row, and goes back to Queued without an event.
WITH outcome AS (
    -- One JSON array of outcomes: a single parameter to send instead of fourteen arrays.
    SELECT *
      FROM jsonb_to_recordset(%(outcomes)s::jsonb)
           AS o(task_id uuid, attempt_id bigint, task_status task_status,
                attempt_status attempt_status, event_type text, retry_delay float8,
                error_code text, error_detail text, result text, model text,
                tokens_in integer, tokens_out integer, cost numeric, latency_ms integer,
                running_event boolean, unstarted boolean, ran_ms float8)
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
           -- A lease handed back on shutdown, or never started, does not use up an attempt.
           attempt_count = t.attempt_count
                           - (o.attempt_status = 'Released' OR o.unstarted IS TRUE)::integer,
           started_at = CASE WHEN o.unstarted IS TRUE THEN t.started_at
                             ELSE coalesce(t.started_at,
                                           now() - make_interval(secs => o.ran_ms / 1000)) END,
           attempt_started_at = CASE WHEN o.unstarted IS TRUE THEN t.attempt_started_at
                                     ELSE coalesce(t.attempt_started_at,
                                                   now() - make_interval(secs => o.ran_ms / 1000))
                                END,
           last_error = CASE WHEN o.attempt_status = 'Released' THEN t.last_error
                             ELSE o.error_detail END,
           progress = CASE WHEN o.task_status = 'Succeeded' THEN 100 ELSE t.progress END,
           finished_at = CASE WHEN o.task_status IN ('Succeeded', 'Cancelled', 'DeadLetter')
                                OR t.cancel_requested_at IS NOT NULL THEN now() END,
           -- One for the ending event (none for an unstarted task going back to Queued),
           -- one more for a TaskRunning event written here.
           version = t.version
                     + (o.unstarted IS NOT TRUE OR o.task_status <> 'Queued'
                        OR t.cancel_requested_at IS NOT NULL)::integer
                     + (o.running_event IS TRUE)::integer,
           updated_at = now()
      FROM outcome o
     -- Probe the key for each outcome: a join here turns into a scan of the table.
     WHERE t.id = ANY(ARRAY(SELECT task_id FROM outcome))
       AND t.id = o.task_id
       -- attempt_id is set only while the task is leased (CHECK tasks_lease_matches_status),
       -- so it is the whole guard; a status filter here led the planner to read every lease.
       AND t.attempt_id = o.attempt_id
    RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.status, t.scheduled_at,
              t.attempt_started_at, t.attempt_count,
              -- a released attempt was given back above; its number is the one before
              t.attempt_count + (o.attempt_status = 'Released')::integer AS attempt_no,
              o.running_event IS TRUE AS running_event, o.unstarted IS TRUE AS unstarted,
              o.attempt_id AS ended_attempt_id, o.task_status AS reported_status,
              o.attempt_status, o.event_type, o.retry_delay, o.error_code, o.error_detail,
              o.result, o.model, o.tokens_in, o.tokens_out, o.cost, o.latency_ms, t.parent_id
), attempts AS (
    INSERT INTO task_attempts (id, task_id, attempt_no, worker_id, status, started_at, ended_at,
                               error_code, error_detail, model, tokens_in, tokens_out, cost,
                               latency_ms)
    SELECT ended_attempt_id, id, attempt_no, %(worker_id)s, attempt_status,
           coalesce(attempt_started_at, now()), now(), error_code, error_detail, model,
           tokens_in, tokens_out, cost, latency_ms
      FROM finished
     WHERE NOT unstarted
), artifacts AS (
    INSERT INTO task_artifacts (task_id, kind, name, content_type, content, size_bytes)
    SELECT id, 'result', 'result.json', 'application/json', result, octet_length(result)
      FROM finished
     WHERE result IS NOT NULL
), events AS (
    INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                             detail)
    SELECT id, tenant_id, version - 1, 'TaskRunning', 'Running', trace_id, attempt_no,
           jsonb_build_object('attemptNo', attempt_no, 'workerId', %(worker_id)s::text)
      FROM finished
     WHERE running_event
    UNION ALL
    SELECT id, tenant_id, version,
           CASE WHEN status <> reported_status THEN 'TaskCancelled' ELSE event_type END,
           status, trace_id, attempt_count,
           jsonb_strip_nulls(jsonb_build_object(
               'attemptStatus', CASE WHEN NOT unstarted THEN attempt_status END,
               'retryAt', CASE WHEN status = 'Failed' THEN scheduled_at END,
               'errorCode', error_code, 'error', error_detail))
      FROM finished
     WHERE NOT (unstarted AND status = 'Queued')
)
-- A child's id, parent, tenant and status, for the settle in the same transaction (the
-- store runs it only when a child was among the outcomes); NULLs for a task of its own,
-- which cost the client nothing to read.
SELECT ended_attempt_id,
       CASE WHEN parent_id IS NOT NULL THEN id END,
       parent_id,
       CASE WHEN parent_id IS NOT NULL THEN tenant_id END,
       CASE WHEN parent_id IS NOT NULL THEN status END
  FROM finished;

-- name: task_extend_leases
-- Heartbeat: push the deadline of leases this worker still holds; says which have a cancel request.
UPDATE tasks t
   SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
  FROM unnest(%(task_ids)s::uuid[], %(attempt_ids)s::bigint[]) AS l(task_id, attempt_id)
 WHERE t.id = l.task_id
   AND t.attempt_id = l.attempt_id  -- set only while leased: the whole guard
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
       AND t.attempt_id = p.attempt_id  -- set only while leased: the whole guard
       -- The worker writes a handler's start before its progress, so events stay in order.
       AND t.status = 'Running'
    RETURNING t.id, t.tenant_id, t.version, t.trace_id, t.progress, t.state, t.attempt_count
)
INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, trace_id, attempt,
                         detail)
SELECT id, tenant_id, version, 'TaskProgressed', 'Running', trace_id, attempt_count,
       jsonb_strip_nulls(jsonb_build_object('progress', progress, 'state', state))
  FROM updated;

-- name: task_artifact_add
-- Store an artifact written by a running handler, only while its attempt holds the lease.
INSERT INTO task_artifacts (task_id, kind, name, content_type, content, uri, size_bytes)
SELECT t.id, %(kind)s, %(name)s, %(content_type)s, %(content)s, %(uri)s, %(size_bytes)s
  FROM tasks t
 WHERE t.id = %(task_id)s
   AND t.attempt_id = %(attempt_id)s  -- set only while leased: the whole guard
RETURNING id;
