-- name: signals_listen_work
-- Hear about new or returned work (sent by the task_events trigger and maintenance).
LISTEN assistente_tasks;

-- name: signals_listen_cancel
-- Hear about cancel requests for running tasks (payload: the task id).
LISTEN assistente_cancel;

-- name: signals_ping
-- Keep-alive probe for long-lived sessions.
SELECT 1;

-- name: session_prefer_index_scans
-- Worker sessions: plan queue queries on their indexes even before statistics catch up with a sudden backlog, and plan each of them once (they run thousands of times a second, always on the same index plan; planning each run was about a twentieth of the database's CPU in a drain).
SELECT set_config('enable_bitmapscan', 'off', false), set_config('enable_seqscan', 'off', false),
       set_config('plan_cache_mode', 'force_generic_plan', false);

-- name: events_last_id
-- Where the API's live streams start watching: the newest event now.
SELECT coalesce(max(id), 0) FROM task_events;

-- name: events_tasks_after
-- Which tasks have events newer than `after`: each one's tenant, newest event id and the status that event left it in, by id, with the bounds of the snapshot they were read in (polled by the API for its live streams and waiting requests; see app/domain/event_cursor.py). At least one row: last_id is NULL when there is no event.
WITH snapshot AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS snapshot_xmin,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS snapshot_xmax
)
SELECT e.tenant_id, e.task_id, e.last_id, e.status, s.snapshot_xmin, s.snapshot_xmax
  FROM snapshot s
  LEFT JOIN LATERAL (
        SELECT DISTINCT ON (task_id) tenant_id, task_id, id AS last_id, status::text AS status
          FROM task_events
         WHERE id > %(after)s
         ORDER BY task_id, id DESC
       ) e ON true
 ORDER BY e.last_id;
