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
-- Worker sessions: plan queue queries on their indexes even before statistics catch up with a sudden backlog.
SELECT set_config('enable_bitmapscan', 'off', false), set_config('enable_seqscan', 'off', false);

-- name: signals_listen_events
-- Hear which tenants have new task events (payload: the tenant id), for live streams.
LISTEN assistente_events;
