-- pgbench script, claim-and-complete on the minimal queue (minimal_queue.sql), no Python.
-- One transaction per iteration: claim up to `batch` due rows with FOR UPDATE SKIP LOCKED
-- (the worker would run them here, holding the row locks), then mark them done.
-- Needs --protocol=prepared (the id list travels as one text parameter) and
-- --define=batch=N; tests/bench/ceiling.py runs it.
BEGIN;
SELECT coalesce(array_agg(id), '{}') AS claimed_ids
  FROM (SELECT id, payload
          FROM minimal_queue
         WHERE status = 0
           AND scheduled_at <= now()
         ORDER BY priority, scheduled_at
         LIMIT :batch
           FOR UPDATE SKIP LOCKED) AS claimed
\gset
UPDATE minimal_queue SET status = 1 WHERE id = ANY (:claimed_ids::bigint[]);
COMMIT;
