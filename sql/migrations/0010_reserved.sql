-- 0010: a claimed task is Reserved until its handler starts.
--
-- Workers claim a batch ahead of their free slots; those tasks are Reserved (leased,
-- attempt id drawn, not started). The worker writes Reserved -> Running, with the
-- TaskRunning event, in batches once handlers start; a short task that ends before
-- that write gets both in its finish statement. A task handed back before it started
-- returns to Queued with no attempt row and no event (nothing was published for it).
--
-- The running attempts the view shows are those of Running tasks only: a Reserved
-- task has an attempt id but has not started an attempt yet.
CREATE OR REPLACE VIEW task_attempts_current AS
SELECT id, task_id, attempt_no, worker_id, status, started_at, ended_at, model, tokens_in,
       tokens_out, cost, latency_ms, error_code, error_detail
  FROM task_attempts
UNION ALL
SELECT attempt_id, id, attempt_count, locked_by, 'Running'::attempt_status, attempt_started_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM tasks
 WHERE attempt_id IS NOT NULL
   AND status = 'Running';
COMMENT ON VIEW task_attempts_current IS
    'Ended attempts and the ones running now (tasks Reserved by a worker have not started one).';
COMMENT ON COLUMN tasks.version IS
    'Bumped with every published event; equals the sequence of the task''s latest event. '
    'Claiming (Queued -> Reserved) publishes nothing and does not bump it.';
