-- 0019: the worker registry (issue 17): which workers run, where, since when, and what
-- they hold.
--
-- Each worker process upserts its row as it starts and touches last_heartbeat_at every
-- heartbeat_seconds (its lease heartbeat interval, lease/3) from a light timer of its
-- own, never from the claim or finish statements. A worker that stops cleanly marks its
-- row 'stopped' (the row stays, so an operator sees what stopped and when). The
-- maintenance leader marks 'dead' a running row whose heartbeat is older than
-- greatest(3 * heartbeat_seconds, lease_seconds): by then its leases ran out too, and
-- the rescue job gives its tasks to others. Rows stopped or dead for a day are pruned.
-- A worker id reused (--worker-id, WORKER_ID) takes its row over when it starts again.

CREATE TABLE workers (
    id                text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    host              text        NOT NULL,
    pid               integer     NOT NULL,
    version           text        NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    concurrency       integer     NOT NULL CHECK (concurrency > 0),
    heartbeat_seconds real        NOT NULL CHECK (heartbeat_seconds > 0),
    lease_seconds     real        NOT NULL CHECK (lease_seconds > 0),
    status            text        NOT NULL DEFAULT 'running'
                                  CHECK (status IN ('running', 'stopped', 'dead')),
    stopped_at        timestamptz,
    CHECK ((status = 'running') = (stopped_at IS NULL))
);

-- The leader's sweep for silent workers reads only the running rows.
CREATE INDEX workers_running_heartbeat_idx ON workers (last_heartbeat_at)
    WHERE status = 'running';

COMMENT ON TABLE workers IS
    'One row per worker process (by worker id): registered at start, heartbeated, marked stopped on a clean stop or dead by the maintenance leader; pruned a day after.';
COMMENT ON COLUMN workers.id IS 'The worker id, as in tasks.locked_by and the logs (default host-pid).';
COMMENT ON COLUMN workers.version IS 'The assistente-tasks package version the worker runs.';
COMMENT ON COLUMN workers.heartbeat_seconds IS 'How often the worker touches last_heartbeat_at.';
COMMENT ON COLUMN workers.lease_seconds IS 'The lease length the worker takes its tasks with.';
COMMENT ON COLUMN workers.status IS 'running, stopped (cleanly), or dead (no heartbeat for greatest(3 * heartbeat_seconds, lease_seconds)).';
COMMENT ON COLUMN workers.stopped_at IS 'When it stopped, or when the leader found it dead.';

-- Every registered worker with the tasks it holds now (live leases: Reserved or
-- Running with locked_by = its id). One pass over the running tasks (the lease-expiry
-- index is partial on those statuses), however many finished rows the table holds.
-- Which tasks: SELECT id, type, status FROM tasks WHERE locked_by = '…'
--              AND status IN ('Reserved', 'Running');
CREATE VIEW worker_activity AS
SELECT w.id,
       w.host,
       w.pid,
       w.version,
       w.status,
       w.concurrency,
       w.started_at,
       w.last_heartbeat_at,
       now() - w.last_heartbeat_at        AS heartbeat_age,
       w.stopped_at,
       coalesce(h.held, 0)::integer       AS held_tasks,
       coalesce(h.held_ids, '{}')         AS held_task_ids
  FROM workers w
  LEFT JOIN (
        SELECT locked_by, count(*) AS held, array_agg(id ORDER BY id) AS held_ids
          FROM tasks
         WHERE status IN ('Reserved', 'Running')
         GROUP BY locked_by
       ) h ON h.locked_by = w.id;

COMMENT ON VIEW worker_activity IS
    'Each registered worker with how many tasks it holds (live leases) and their ids.';
