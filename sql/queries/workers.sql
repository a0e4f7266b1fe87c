-- name: worker_register
-- A worker starting: its row, new or taken over (a reused worker id runs again).
INSERT INTO workers (id, host, pid, version, concurrency, heartbeat_seconds, lease_seconds)
VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(concurrency)s, %(heartbeat_seconds)s,
        %(lease_seconds)s)
ON CONFLICT (id) DO UPDATE
   SET host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
       concurrency = EXCLUDED.concurrency, heartbeat_seconds = EXCLUDED.heartbeat_seconds,
       lease_seconds = EXCLUDED.lease_seconds, started_at = now(),
       last_heartbeat_at = now(), status = 'running', stopped_at = NULL;

-- name: worker_heartbeat
-- A running worker is alive; a row the leader marked dead (a worker frozen past its
-- deadline that woke up) comes back to running. Returns whether the row exists.
UPDATE workers
   SET last_heartbeat_at = now(), status = 'running', stopped_at = NULL
 WHERE id = %(id)s AND status <> 'stopped'
RETURNING id;

-- name: worker_stop
-- A worker that stopped cleanly.
UPDATE workers
   SET status = 'stopped', stopped_at = now()
 WHERE id = %(id)s AND status = 'running';

-- name: worker_mark_dead
-- Running workers silent for greatest(3 heartbeats, a lease): dead; their ids.
UPDATE workers
   SET status = 'dead', stopped_at = now()
 WHERE status = 'running'
   AND last_heartbeat_at
       < now() - make_interval(secs => greatest(3 * heartbeat_seconds, lease_seconds))
RETURNING id;

-- name: worker_prune
-- Rows of workers stopped or dead longer than the retention; how many (rowcount).
DELETE FROM workers
 WHERE status IN ('stopped', 'dead')
   AND stopped_at < now() - make_interval(secs => %(retention_seconds)s);

-- name: worker_list
-- Every registered worker with the count of tasks it holds, running ones first.
SELECT id, host, pid, version, status, concurrency, started_at, last_heartbeat_at,
       stopped_at, held_tasks
  FROM worker_activity
 ORDER BY status = 'running' DESC, started_at DESC, id;
